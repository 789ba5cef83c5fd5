"""zoo.yaml models linked to their catalogue entry (``catalogue:``): the entry's published rows
stand in for the references zoo.yaml does not give, so ``zoo check`` gates them."""

from __future__ import annotations

import copy
import dataclasses

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


def with_catalogue_references(zoo, catalogue: Catalogue):
    """A copy of ``zoo`` whose linked models without references of their own carry their catalogue
    entry's gate rows (zoo.yaml's hand-written references always win)."""
    linked = {name: m for name, m in zoo.models.items() if m.catalogue and not m.references}
    if not linked:
        return zoo
    twin = copy.copy(zoo)
    twin.models = dict(zoo.models)
    for name, model in linked.items():
        twin.models[name] = dataclasses.replace(model, references=gate_references(entry_of(zoo, name, catalogue)))
    return twin
