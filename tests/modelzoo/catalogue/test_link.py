"""zoo.yaml's ``catalogue:`` link resolved against the snapshot's catalogue."""

from __future__ import annotations

import pytest

from modelzoo.catalogue.importer import Catalogue
from modelzoo.catalogue.link import entry_of, with_catalogue_references
from modelzoo.contract.api import UserError
from modelzoo.zoo.zoofile import load_zoo


def _zoo(tmp_path, link: str):
    path = tmp_path / "zoo.yaml"
    path.write_text(f"schema_version: 1\nmodels:\n  m:\n    catalogue: {link}\n")
    return load_zoo(path)


def test_a_link_by_key_or_by_a_unique_model_framework_pair(tmp_path, imported):
    catalogue = Catalogue(None, {e["key"]: e for e in imported["entries"]})
    by_key = entry_of(_zoo(tmp_path, "cv/classification/resnet50/pytorch"), "m", catalogue)
    assert entry_of(_zoo(tmp_path, "resnet50/pytorch"), "m", catalogue) is by_key
    gated = with_catalogue_references(_zoo(tmp_path, "resnet50/pytorch"), catalogue).models["m"].references
    assert [(r["cards"], r.get("config"), r["fps"]) for r in gated][:2] == [(1, "FP32", 330.0), (1, "AMP+NHWC", 550.0)]


def test_a_pair_that_names_several_entries_asks_for_the_key(tmp_path, imported):
    catalogue = Catalogue(None, {e["key"]: e for e in imported["entries"]})
    with pytest.raises(UserError, match=r"'bert/pytorch' names 5 entries; name one by its key: "
                                        r"nlp/language_model/bert/pytorch, "):
        entry_of(_zoo(tmp_path, "bert/pytorch"), "m", catalogue)


@pytest.mark.parametrize("link", ["[1, 2]", "{entry: 3}", "{entry: a, extra: 1}", "{entry: a, configs: {p: 1}}"])
def test_a_malformed_link_is_a_zoo_yaml_error(tmp_path, link):
    with pytest.raises(UserError, match=r"zoo.yaml:4: models.m.catalogue: expected a catalogue key or"):
        _zoo(tmp_path, link)


def test_every_link_of_the_shipped_zoo_yaml_resolves_in_the_committed_catalogue():
    """zoo.yaml's catalogue: links name entries of zoo.catalogue.json beside it, and a configs map
    names columns its README has (no thirdparty needed: both files are in the repository)."""
    from modelzoo.catalogue import importer
    from modelzoo.zoo.zoofile import find_zoo_file

    zoo = load_zoo(find_zoo_file())
    catalogue = importer.load(importer.catalogue_path(zoo.path))
    linked = {name: m for name, m in zoo.models.items() if m.catalogue}
    assert {"facenet", "facenet-pytorch", "arcface", "cosface", "resnet50"} <= set(linked)
    for name, model in linked.items():
        entry = entry_of(zoo, name, catalogue)
        configs = {r.get("config") for r in entry["references"]}
        assert set(model.catalogue["configs"].values()) <= configs, name
