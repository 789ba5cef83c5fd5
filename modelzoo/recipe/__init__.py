"""Zoo recipes: a model that is the zoo's own training script, run and measured from outside.

A recipe is declared by a ``recipe:`` block of a zoo.yaml model (docs/WRITING_A_RECIPE.md):
the command (per card count or templated), its folder in the zoo checkout (``--zoo-root``),
environment, timeout, an optional setup step, and the parse rules that read throughput,
loss and metrics from its output.

- :mod:`~modelzoo.recipe.schema`: the block's keys, checked, with zoo.yaml:LINE errors;
  the command and environment a run would use (:func:`~modelzoo.recipe.schema.plan_command`).
- :mod:`~modelzoo.recipe.presets` and :mod:`~modelzoo.recipe.logparse`: the log styles the
  zoo prints and the parser fed one line at a time.
- :mod:`~modelzoo.recipe.process`: the command in its own process group, its output streamed
  to train.log, the timeout, the step cap, SIGTERM then SIGKILL, no child left behind.
- :mod:`~modelzoo.recipe.runner`: one run, start to record.
- :mod:`~modelzoo.recipe.declare`: the built-in plugin that declares zoo.yaml's recipes.

Nothing here imports torch.
"""
