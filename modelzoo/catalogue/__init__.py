"""The zoo's catalogue: DeepSparkHub's model_info.json and model READMEs read, checked and written back.

- :mod:`markdown`: the Markdown tables of a README, with line numbers and cell spans.
- :mod:`values`: one cell's numbers and what they mean (``Acc@1=76.02,FPS=330``, ``BI-V100 x8``).
- :mod:`results`: a results table's rows as reference rows, or the reason a row was not understood.
- :mod:`snapshot`: a zoo checkout: model_info.json and each entry's README and environment table.
- :mod:`importer`: the catalogue file (``zoo.catalogue.json`` beside zoo.yaml), written and loaded.
- :mod:`versions`: SDK and release versions compared as versions (4.10 after 4.3).
- :mod:`lint`: the zoo's own consistency, one finding a line.
- :mod:`writeback`: measured rows into a README's tables in its own layout, as a diff or applied.
- :mod:`link`: zoo.yaml's ``catalogue:`` link; the entry's rows gate a model without references.
- :mod:`views`: the catalogue as rows for ``list --all`` and the report, what runs here marked.

No torch here, no CLI: the application layer (:mod:`modelzoo.app.zoo_catalogue`) calls these.
"""
