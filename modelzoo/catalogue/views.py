"""The catalogue as rows for ``modelzoo list --all`` and the report's catalogue section."""

from __future__ import annotations

from typing import Optional

from modelzoo.catalogue import versions
from modelzoo.catalogue.importer import Catalogue


def runnable_here(catalogue: Catalogue, zoo, installed: set[str]) -> dict[str, tuple[str, str]]:
    """Catalogue key -> (how, zoo.yaml model): ``native`` when zoo.yaml links an installed plugin's
    model to the entry, ``recipe`` when the linked zoo.yaml model runs the zoo's own recipe."""
    found: dict[str, tuple[str, str]] = {}
    for name, model in sorted(zoo.models.items()):
        link = model.catalogue
        entry = catalogue.find(link["entry"]) if link else None
        if entry is None:
            continue
        if name in installed:
            found[entry["key"]] = ("native", name)
        elif getattr(model, "recipe", None):
            found.setdefault(entry["key"], ("recipe", name))
    return found


def catalogue_rows(catalogue: Catalogue, zoo, installed: set[str], *, category: Optional[str] = None,
                   framework: Optional[str] = None, gpu: Optional[str] = None) -> list[dict]:
    """One row per entry that passes the filters (category: a prefix such as ``cv`` or
    ``cv/classification``; framework exact; gpu: a card of its environments or references)."""
    here = runnable_here(catalogue, zoo, installed)
    rows = []
    for key, entry in sorted(catalogue.entries.items()):
        gpus = sorted({e["gpu"] for e in entry.get("environments", [])} |
                      {r["gpu"] for r in entry.get("references", [])})
        if category and not (entry["category"] == category or entry["category"].startswith(category.rstrip("/") + "/")):
            continue
        if framework and entry["framework"].lower() != framework.lower():
            continue
        if gpu and gpu.lower() not in {g.lower() for g in gpus}:
            continue
        sdks = [e["sdk"] for e in entry.get("environments", [])]
        how, zoo_model = here.get(key, ("", ""))
        rows.append({
            "key": key, "model": entry["model"], "framework": entry["framework"], "category": entry["category"],
            "gpus": gpus, "newest_sdk": versions.newest(sdks) or "", "release": entry["release"]["release_version"],
            "references": entry.get("references", []), "readme": entry.get("readme") or "",
            "runnable": how, "zoo_model": zoo_model,
        })
    return rows


def headline(reference: dict) -> str:
    """A reference row in a few words: ``BI-V100 x8 AMP+NHWC: 4200 FPS, acc@1 76.43``."""
    parts = []
    if reference.get("fps") is not None:
        parts.append(f"{reference['fps']:g} {reference.get('fps_unit') or 'FPS'}")
    parts.extend(f"{k} {v:g}" for k, v in sorted((reference.get("metrics") or {}).items())[:3])
    config = f" {reference['config']}" if reference.get("config") else ""
    return f"{reference['gpu']} x{reference['cards']}{config}: " + ", ".join(parts)
