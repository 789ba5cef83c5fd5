"""zoo.yaml models linked to their catalogue entry (``catalogue:``): the entry's published rows
stand in for the references zoo.yaml does not give, so ``zoo check`` gates them."""

from __future__ import annotations

import copy
import dataclasses

from modelzoo.catalogue import values
from modelzoo.catalogue.importer import Catalogue, gate_references
from modelzoo.contract.api import UserError


def entry_of(zoo, name: str, catalogue: Catalogue) -> dict:
    """The catalogue entry zoo.yaml's model ``name`` names; UserError when it is not in the catalogue."""
    link = zoo.models[name].catalogue
    entry = catalogue.find(link["entry"]) if link else None
    if link and entry is None:
        where = zoo.where(("models", name, "catalogue"))
        several = catalogue.named(link["entry"])
        if len(several) > 1:
            raise UserError(f"{where}: models.{name}.catalogue: '{link['entry']}' names {len(several)} entries; "
                            f"name one by its key: {', '.join(sorted(e['key'] for e in several))}")
        raise UserError(f"{where}: models.{name}.catalogue: entry '{link['entry']}' is not in "
                        f"{catalogue.path or 'the catalogue (none imported)'}; run 'modelzoo zoo import DSH_ROOT' "
                        "or name an entry key (cv/classification/resnet50/pytorch) or model/framework")
    if entry is None:
        raise UserError(f"model '{name}' names no catalogue entry; add catalogue: KEY to it in zoo.yaml")
    return entry


def with_catalogue_references(zoo, catalogue: Catalogue, *, models=None, warn=None):
    """A copy of ``zoo`` whose linked models without references of their own carry their catalogue
    entry's gate rows (zoo.yaml's hand-written references always win), each metric keyed as the
    model keys it where the names agree (``Acc@1`` -> ``acc1``: see :func:`values.match_key`).
    ``models``: only these (a release's). ``warn``: a link that does not resolve is warned about and
    skipped (the report; no catalogue imported at all: nothing to say) instead of being an error
    (``zoo check``)."""
    linked = {name: m for name, m in zoo.models.items() if m.catalogue and not m.references
              and (models is None or name in models)}
    if not linked or (warn is not None and catalogue.path is None):
        return zoo
    twin = copy.copy(zoo)
    twin.models = dict(zoo.models)
    for name, model in linked.items():
        try:
            entry = entry_of(zoo, name, catalogue)
        except UserError as exc:
            if warn is None:
                raise
            warn(str(exc))
            continue
        keys = _metric_keys(model)
        rows = [{**row, "metrics": {keys.get(values.match_key(k), k): v for k, v in row.get("metrics", {}).items()}}
                for row in gate_references(entry)]
        twin.models[name] = dataclasses.replace(model, references=rows)
    return twin


def _metric_keys(model) -> dict[str, str]:
    """The model's own metric keys (its target's, its recipe's columns and their spreads) by match key."""
    keys = [model.target["metric"]] if model.target else []
    recipe = getattr(model, "recipe", None) or {}
    for column in recipe.get("metrics") or [] if isinstance(recipe, dict) else []:
        if isinstance(column, dict) and isinstance(column.get("key"), str):
            keys.append(column["key"])
            if isinstance(column.get("std_key"), str):
                keys.append(column["std_key"])
    keys += [f"{k}_std" for k in keys]
    return {values.match_key(k): k for k in keys}
