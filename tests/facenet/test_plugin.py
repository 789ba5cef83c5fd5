"""The facenet plugin through modelzoo's contract: profiles, data checks, weights, unrestricted split."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from modelzoo.cli import main
from modelzoo.contract.api import RunContext, UserError
from modelzoo.contract.plugins import load_registry
from modelzoo.contract.settings import with_core_defaults
from modelzoo.zoo.zoofile import find_zoo_file, load_zoo, resolve_profile
from modelzoo_facenet import plugin
from modelzoo_facenet.profiles import PROFILES as PLUGIN_PROFILES

# The profiles as a run sees them: the core's defaults merged under the plugin's values.
PROFILES = {name: with_core_defaults(profile) for name, profile in PLUGIN_PROFILES.items()}

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def facenet(monkeypatch, tmp_path):
    monkeypatch.setenv("MODELZOO_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("MODELZOO_PLUGINS", "modelzoo_facenet.plugin")
    monkeypatch.setenv("MODELZOO_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MODELZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MODELZOO_ZOO", str(REPO / "zoo.yaml"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _context(config, tmp_path, profile="casia", **extra) -> RunContext:
    return RunContext(model="facenet", profile=profile, config=config, data_root=tmp_path / "data",
                      cache_dir=tmp_path / "cache", run_dir=tmp_path / "run", device="cpu", **extra)


def test_default_profile_is_davidsandbergs_softmax_recipe():
    spec = load_registry(extra_plugins=[(plugin, _info())], autoload=False).model("facenet")
    name, config = resolve_profile(spec, load_zoo(find_zoo_file(str(REPO / "zoo.yaml"))), None)
    assert name == "casia"
    assert config["model"] == {"backbone": "inception_resnet_v1", "embedding_size": 512, "width": 1.0,
                               "pool_grid": 1, "dropout_keep": 0.8, "bn_momentum": 0.005, "bn_eps": 0.001}
    assert config["optimizer"]["name"] == "adam" and config["optimizer"]["eps"] == 0.1
    assert config["optimizer"]["weight_decay"] == 5e-4
    assert config["schedule"]["name"] == "steps"
    assert config["schedule"]["milestones"] == {0: 0.05, 60: 0.005, 80: 0.0005}
    train = config["train"]
    assert (train["epochs"], train["steps_per_epoch"], train["batch_size"], train["eval_every_epochs"]) == \
        (91, 1000, 90, 5)
    data = config["data"]
    assert (data["train_dir"], data["lfw_dir"], data["lfw_pairs"]) == \
        ("webface_182_44", "lfw_data/lfw_160", "lfw_data/pairs.txt")
    assert (data["image_size"], data["crop_size"], data["flip"], data["validation_fraction"]) == (182, 160, True, 0.05)
    assert config["loss"]["name"] == "softmax" and config["loss"]["prelogits_norm_factor"] == 5e-4
    evaluation = config["eval"]
    assert (evaluation["distance"], evaluation["flip"], evaluation["subtract_mean"]) == ("cosine", True, True)


def _info():
    from modelzoo.contract.plugins import PluginInfo
    return PluginInfo("modelzoo-facenet", "test")


def test_every_zoo_profile_resolves():
    spec = load_registry(extra_plugins=[(plugin, _info())], autoload=False).model("facenet")
    zoo = load_zoo(REPO / "zoo.yaml")
    for name in list(PROFILES) + list(zoo.models["facenet"].profiles):
        config = resolve_profile(spec, zoo, name)[1]
        # the training crop fits the stored images, the eval crop the 160 px aligned LFW
        assert config["data"]["crop_size"] <= config["data"]["image_size"], name
        assert config["eval"]["crop_size"] <= 160, name
    triplet = resolve_profile(spec, zoo, "casia-triplet")[1]
    assert triplet["loss"]["name"] == "triplet" and triplet["loss"]["margin"] == 0.2


def test_missing_data_names_the_path_prepare_and_demo(facenet, capsys):
    assert main(["run", "facenet", "--device", "cpu"]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "data not found: data/webface_182_44" in line
    assert "modelzoo prepare facenet" in line and "--profile demo" in line
    assert not (facenet / "runs").exists() or not any((facenet / "runs").iterdir())


def test_triplet_batch_must_split_into_identities(tmp_path):
    config = resolve_profile(load_registry(extra_plugins=[(plugin, _info())], autoload=False).model("facenet"),
                             load_zoo(REPO / "zoo.yaml"), "casia-triplet")[1]
    config["train"]["batch_size"] = 91
    root = tmp_path / "data" / "webface_182_44"
    for person in ("a", "b"):
        (root / person).mkdir(parents=True)
        import cv2
        import numpy as np
        for i in range(3):
            cv2.imwrite(str(root / person / f"{i}.png"), np.zeros((182, 182, 3), np.uint8))
    config["data"]["validation_fraction"] = 0.0
    with pytest.raises(UserError, match="not a multiple of loss.images_per_identity 3"):
        plugin.modelzoo_train_data(context=_context(config, tmp_path))


def test_facenet_pytorch_state_dicts_load_strictly(tmp_path):
    facenet_pytorch = pytest.importorskip("facenet_pytorch")
    reference = facenet_pytorch.InceptionResnetV1(pretrained=None, classify=True, num_classes=8631).eval()
    path = tmp_path / "vggface2.pt"
    torch.save(reference.state_dict(), path)
    state = torch.load(path, weights_only=True)
    network = plugin.modelzoo_load_weights(context=_context(PROFILES["casia"], tmp_path), state=state,
                                           path=path).eval()
    images = torch.randn(2, 3, 160, 160)
    reference.classify = False
    with torch.no_grad():
        assert torch.allclose(network.embed(images), reference(images), atol=1e-5)
    demo = _context(PROFILES["demo"], tmp_path, profile="demo")
    with pytest.raises(UserError, match="512-d embeddings but the profile says 128"):
        plugin.modelzoo_load_weights(context=demo, state=state, path=path)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert main(["eval", "facenet", "--weights", str(tmp_path / "none.pt"), "--device", "cpu"]) == 2
    assert main(["eval", "facenet", "--weights", str(tmp_path / "junk.pt"), "--device", "cpu"]) == 2


def test_unrestricted_profile_trains_on_nine_sets_and_tests_the_held_out_fold(lfw_dir, tmp_path):
    data_root = tmp_path / "data"
    (data_root / "lfw_data").mkdir(parents=True)
    for name in ("pairs.txt", "people.txt"):
        (data_root / "lfw_data" / name).symlink_to(lfw_dir / name)
    config = PROFILES["lfw-unrestricted"]
    for fold in (1, 10):
        context = _context({**config, "data": {**config["data"], "test_fold": fold}}, tmp_path,
                           profile="lfw-unrestricted")
        people, protocol = plugin.unrestricted_train_people(context, plugin.profile_paths(context))
        assert protocol == f"LFW unrestricted, fold {fold}"
        from modelzoo_facenet import lfw
        pairs = [p for p in lfw.read_pairs(lfw_dir / "pairs.txt") if p.fold == fold]
        assert len(pairs) == 600
        test_people = {p.name1 for p in pairs} | {p.name2 for p in pairs}
        assert not people & test_people
        if fold == 10:
            assert len(people) == 5140 and len(test_people) == 451
            # what the run trains on: the people of sets 1-9 with enough images each
            from modelzoo_facenet.data import scan_identity_folders
            index = scan_identity_folders(lfw_dir / "images_deepfunneled", people=people,
                                          min_images=config["data"]["min_images_per_identity"])
            assert config["data"]["min_images_per_identity"] == 2
            assert len(set(index.labels)) == 1499 and len(index.paths) == 7809


def test_unrestricted_loader_refuses_overlapping_people(tmp_path):
    data_root = tmp_path / "data" / "lfw_data"
    data_root.mkdir(parents=True)
    # person Ann is in set 1 and appears in a pair of fold 2: a leak the loader must refuse
    (data_root / "people.txt").write_text("2\n1\nAnn\t2\n1\nBob\t2\n")
    (data_root / "pairs.txt").write_text("2 1\nAnn\t1\t2\nAnn\t1\tBob\t1\nBob\t1\t2\nAnn\t2\tBob\t2\n")
    config = PROFILES["lfw-unrestricted"]
    context = _context({**config, "data": {**config["data"], "test_fold": 2}}, tmp_path)
    with pytest.raises(UserError):
        plugin.unrestricted_train_people(context, plugin.profile_paths(context))


def test_environment_facts_survive_a_host_without_opencv(monkeypatch):
    import cv2

    assert plugin.modelzoo_environment(model="facenet")["opencv"] == cv2.__version__
    monkeypatch.setitem(__import__("sys").modules, "cv2", None)  # import cv2 -> ImportError
    assert plugin.modelzoo_environment(model="facenet") == {"opencv": None, "modelzoo_facenet": plugin.__version__}


def test_evaluation_on_rank_0_never_waits_for_the_other_ranks(tmp_path):
    """Only rank 0 scores LFW while the others go on to their next collective: a barrier
    inside the evaluation would pair with that collective and hang a multi-card demo run."""
    from modelzoo_facenet.profiles import DEMO

    config = {section: dict(values) for section, values in DEMO.items()}
    config["data"].update(demo_train_identities=5, demo_images_per_identity=2, demo_test_identities=40)
    config["model"].update(width=0.25)

    def no_barrier():
        raise AssertionError("barrier called during rank 0's evaluation")

    context = _context(config, tmp_path, profile="demo", rank=0, world_size=2, barrier=no_barrier)
    network = plugin.build_network(config).eval()
    with torch.no_grad():
        result = plugin.modelzoo_evaluate(context=context, network=network)
    assert 0.0 <= result.metrics["lfw_accuracy"] <= 1.0


def test_pool_grid_is_refused_for_the_inception_network():
    config = {"model": {**PROFILES["casia"]["model"], "pool_grid": 3}}
    with pytest.raises(UserError, match="pool_grid applies to mobilenet_v1 only"):
        plugin.build_network(config)
    mobile = plugin.build_network({"model": {**PROFILES["lfw-unrestricted"]["model"], "pool_grid": 3}})
    assert mobile.pool_grid == 3


def test_each_distinct_demo_set_has_its_own_cache_folder(tmp_path):
    """A run with a bigger demo set must not replace the default set another run is reading."""
    import copy

    default = PROFILES["demo"]
    bigger = copy.deepcopy(default)
    bigger["data"].update(demo_train_identities=800, demo_images_per_identity=10)
    roots = {plugin.demo_root(_context(config, tmp_path, profile="demo")) for config in (default, bigger)}
    assert {root.name for root in roots} == {f"demo-seed0-{default['data']['image_size']}px",
                                             f"demo-seed0-{default['data']['image_size']}px-800x10-testd"}
