"""The face section's PyTorch recipes (facenet-pytorch, arcface, cosface) through the plugin:
their declarations and recipe profiles, a capped demo run each through the CLI, and the
size check that names the prepare option."""

from __future__ import annotations

import pytest

from modelzoo.cli import main
from modelzoo.contract.api import RunContext
from modelzoo.contract.settings import with_core_defaults
from modelzoo.store import records
from modelzoo_facenet import plugin, sizes
from modelzoo_facenet.face_profiles import ARCFACE_PROFILES, COSFACE_PROFILES, FACENET_PYTORCH_PROFILES

MODELS = {"facenet-pytorch": FACENET_PYTORCH_PROFILES, "arcface": ARCFACE_PROFILES, "cosface": COSFACE_PROFILES}
# A small synthetic set: 40 identities x 6 images, 60 test people (6 a fold) for the pairs.
SMALL = ["--set", "data.demo_train_identities=40", "--set", "data.demo_images_per_identity=6",
         "--set", "data.demo_test_identities=60", "--set", "data.demo_seed=7"]


def test_models_are_declared_with_their_recipe_profiles():
    specs = {spec.name: spec for spec in plugin.modelzoo_models()}
    assert {"facenet", *MODELS} <= set(specs)
    for name, profiles in MODELS.items():
        assert specs[name].default_profile == "casia" and {"casia", "demo"} <= set(specs[name].profiles)
        assert list(specs[name].profiles)[0] == "casia"  # the schema
        assert specs[name].metric_columns[0].key == "lfw_accuracy"
        # the plugin's sections of every profile hold exactly the schema's keys (the first profile's)
        for profile in profiles.values():
            for section in ("data", "model", "loss", "eval"):
                assert set(profile[section]) == set(profiles["casia"][section])
    fp, arc, cos = (MODELS[m]["casia"] for m in ("facenet-pytorch", "arcface", "cosface"))
    assert (fp["model"]["backbone"], fp["model"]["embedding_size"], fp["model"]["dropout_keep"]) == \
        ("mobilenet_v1", 128, 0.5)
    assert (fp["loss"]["name"], fp["loss"]["margin"], fp["train"]["batch_size"]) == ("triplet_softmax", 0.2, 96)
    assert (fp["optimizer"]["name"], fp["optimizer"]["lr"], fp["schedule"]["min_lr"]) == ("adam", 1e-3, 1e-5)
    assert fp["data"]["crop_size"] == fp["eval"]["image_size"] == 160
    assert (arc["model"]["backbone"], arc["data"]["train_dir"], arc["data"]["lfw_dir"]) == \
        ("mobilefacenet", "webface_112x112", "lfw_data/lfw_112x112")
    assert (arc["optimizer"]["name"], arc["optimizer"]["lr"], arc["optimizer"]["momentum"],
            arc["optimizer"]["weight_decay"], arc["schedule"]["min_lr"], arc["train"]["batch_size"]) == \
        ("sgd", 1e-2, 0.9, 5e-4, 1e-4, 128)
    assert (cos["model"]["backbone"], cos["data"]["image_size"], cos["data"]["pixel_std"]) == \
        ("sphere20", [112, 96], 127.5)
    assert (cos["loss"]["name"], cos["loss"]["scale"], cos["loss"]["margin"]) == ("cosface", 30.0, 0.40)
    # lr 0.1 / 10 at iterations 16,000 and 24,000: milestones in epochs of 1,000 iterations
    steps = cos["train"]["steps_per_epoch"]
    assert {int(k) * steps: v for k, v in cos["schedule"]["milestones"].items()} == \
        {0: 0.1, 16000: 0.01, 24000: 0.001}
    assert cos["train"]["batch_size"] == 512 and cos["optimizer"]["momentum"] == 0.9


def test_arcface_lfw_unrestricted_trains_and_scores_the_same_window():
    config = with_core_defaults(ARCFACE_PROFILES["lfw-unrestricted"])
    data, evaluation = config["data"], config["eval"]
    assert (data["source"], data["lfw_dir"], data["min_images_per_identity"]) == \
        ("lfw-unrestricted", "lfw_data/lfw_112x112", 2)
    # a 60 px crop of the 112 set decoded at 64 is 105 px of the stored face: evaluation's window
    assert evaluation["crop_size"] == round(112 * data["crop_size"] / data["image_size"])
    assert plugin.network_input(config) == sizes.size_of(evaluation["image_size"]) == (60, 60)
    assert evaluation["folds"] == "interleaved"  # one test fold: thresholds within it


@pytest.mark.parametrize("model", sorted(MODELS))
def test_recipe_network_takes_the_recipes_input(model):
    import torch

    config = with_core_defaults(MODELS[model]["casia"])
    network = plugin.build_network(config).eval()
    height, width = sizes.size_of(config["eval"]["image_size"])
    with torch.no_grad():
        embedding = network.embed(torch.zeros(2, 3, height, width))
    assert embedding.shape == (2, config["model"]["embedding_size"])


@pytest.mark.parametrize("model", sorted(MODELS))
def test_capped_demo_run_records_a_synthetic_success(facenet_cli, model):
    before = {r["run_id"] for r in records.load_all("runs")}
    assert main(["run", model, "--profile", "demo", "--device", "cpu", "--max-steps", "3",
                 "--set", "train.fps_warmup_steps=1", *SMALL]) == 0
    (record,) = [r for r in records.load_all("runs") if r["run_id"] not in before]
    assert (record["status"], record["model"], record["profile"]) == ("success", model, "demo")
    assert {"lfw_accuracy", "lfw_accuracy_std", "auc", "fps"} <= set(record["metrics"])
    assert 0.0 <= record["metrics"]["lfw_accuracy"] <= 1.0
    assert record["data"]["kind"] == record["data"]["evaluation"]["kind"] == "synthetic"
    assert record["metrics"]["steps"] == 3


def _context(model, tmp_path, **changes):
    config = with_core_defaults(MODELS[model]["casia"])
    for key, value in changes.items():
        section, name = key.split(".")
        config[section][name] = value
    return RunContext(model=model, profile="casia", config=config, data_root=tmp_path, cache_dir=tmp_path / "c",
                      run_dir=tmp_path / "r", device="cpu")


def _write_set(root, size):
    import cv2
    import numpy as np

    folder = root / "Someone"
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "Someone_0001.png"), np.zeros((*size, 3), np.uint8))


def test_data_prepared_at_another_size_names_the_prepare_option(tmp_path):
    (tmp_path / "lfw_data").mkdir()
    (tmp_path / "lfw_data" / "pairs.txt").write_text("10\t300\n")
    _write_set(tmp_path / "webface_112x96", (112, 112))    # the 112x112 set under cosface's folder name
    _write_set(tmp_path / "lfw_data" / "lfw_112x96", (112, 96))
    problems = plugin.modelzoo_check_data(context=_context("cosface", tmp_path))
    assert len(problems) == 1
    assert "holds 112x112 images but cosface's profile reads 112x96" in problems[0]
    assert "modelzoo prepare facenet --aligned 112x96" in problems[0]
    # missing data names the option too; nothing is written
    missing = plugin.modelzoo_check_data(context=_context("arcface", tmp_path))
    assert any("webface_112x112" in p and "--aligned 112x112" in p for p in missing)
    assert not (tmp_path / "webface_112x112").exists()
    # the right sizes pass
    _write_set(tmp_path / "webface_112x112", (112, 112))
    _write_set(tmp_path / "lfw_data" / "lfw_112x112", (112, 112))
    assert plugin.modelzoo_check_data(context=_context("arcface", tmp_path)) == []
