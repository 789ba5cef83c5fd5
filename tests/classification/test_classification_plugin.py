"""The classification plugin through modelzoo's contract: declaration, profiles, each hook called directly."""

from __future__ import annotations

import pytest
import torch
from classification_helpers import context, profile, tiny_demo

from modelzoo.contract.api import TrainData, UserError
from modelzoo.contract.plugins import PluginInfo, load_registry
from modelzoo.contract.settings import CORE_DEFAULTS
from modelzoo.zoo.zoofile import load_zoo, resolve_profile
from modelzoo_classification import plugin
from modelzoo_classification.lfw_people import prepare_lfw_people
from modelzoo_classification.profiles import PROFILES


def _registry():
    return load_registry(extra_plugins=[(plugin, PluginInfo("modelzoo-classification", "test"))], autoload=False)


def test_declaration_matches_the_zoo_readme_table():
    registry = _registry()
    assert not registry.warnings
    spec = registry.model("resnet50")
    assert (spec.title, spec.throughput_unit, spec.default_profile) == ("ResNet50", "images/s", "imagenet")
    assert [(c.key, c.title, c.format) for c in spec.metric_columns] == [("acc1", "Acc@1", "{:.2f}"),
                                                                         ("acc5", "Acc@5", "{:.2f}")]
    assert spec.table.layout == "configs"
    assert [(c.title, c.match) for c in spec.table.configs] == [
        ("FP32", {"train.amp": ("none",)}),
        ("AMP+NHWC", {"train.amp": ("bf16", "fp16"), "train.channels_last": (True,)})]
    assert list(spec.profiles) == ["imagenet", "demo", "lfw-people"]


def test_default_profile_is_torchvisions_resnet50_recipe():
    name, config = resolve_profile(_registry().model("resnet50"), load_zoo(None), None)
    assert name == "imagenet"
    assert config["model"]["arch"] == "resnet50" and config["loss"]["label_smoothing"] == 0.0
    optimizer, schedule, train = config["optimizer"], config["schedule"], config["train"]
    assert (optimizer["name"], optimizer["lr"], optimizer["momentum"], optimizer["weight_decay"]) == \
        ("sgd", 0.1, 0.9, 1e-4)
    assert optimizer["decay_norm_and_bias"] is True  # the reference decays every parameter
    assert (schedule["name"], schedule["milestones"]) == ("steps", {0: 0.1, 30: 0.01, 60: 0.001})
    assert (train["epochs"], train["batch_size"], train["amp"], train["channels_last"]) == (90, 256, "none", False)
    data = config["data"]
    assert (data["train_crop"], data["min_scale"], data["flip"], data["val_resize"], data["val_crop"]) == \
        (224, 0.08, True, 256, 224)


def test_profiles_name_only_what_they_change_and_the_core_fills_the_rest():
    for name, values in PROFILES.items():
        for section in ("train", "optimizer", "schedule"):
            for key, _value in values.get(section, {}).items():
                assert key in CORE_DEFAULTS[section], (name, section, key)
        assert set(values["data"]) == set(PROFILES["imagenet"]["data"]), name  # the schema's keys
    resolved = _registry().model("resnet50").profiles["demo"]
    assert resolved["train"]["grad_clip"] == CORE_DEFAULTS["train"]["grad_clip"]


def test_check_data_names_the_prepare_command_or_the_demo(tmp_path):
    problems = plugin.modelzoo_check_data(context=context(profile("imagenet"), tmp_path, "imagenet"))
    assert len(problems) == 1
    assert "data not found" in problems[0] and "imagenet_index/index.json" in problems[0]
    assert "modelzoo prepare resnet50 --imagenet" in problems[0] and "--profile demo" in problems[0]
    lfw = plugin.modelzoo_check_data(context=context(profile("lfw-people"), tmp_path, "lfw-people"))
    assert "lfw_people/split.json" in lfw[0] and "modelzoo prepare resnet50 --lfw" in lfw[0]
    assert plugin.modelzoo_check_data(context=context(profile("demo"), tmp_path)) == []
    bad = profile("demo", data={"source": "cifar"})
    with pytest.raises(UserError, match="data.source 'cifar' is not known"):
        plugin.modelzoo_check_data(context=context(bad, tmp_path))


def test_demo_train_data_model_loss_and_evaluation(tmp_path):
    barriers = []
    ctx = context(tiny_demo(), tmp_path, barrier=lambda: barriers.append(1))
    data = plugin.modelzoo_train_data(context=ctx)
    assert isinstance(data, TrainData) and barriers  # rank 0 generated, then every rank met
    assert data.info == {"num_classes": 3}
    assert (data.identity.kind, data.identity.images, data.identity.identities) == ("synthetic", 36, 3)
    assert data.identity.extra["seed"] == 0
    images, label = data.dataset[0]
    assert images.dtype == torch.uint8 and tuple(images.shape) == (3, 16, 16) and label == 0
    batch = torch.stack([data.dataset[i][0] for i in range(8)])
    augmented = data.device_transform(batch)
    assert augmented.dtype == torch.float32 and tuple(augmented.shape) == (8, 3, 14, 14)

    network = plugin.modelzoo_build_model(context=ctx, data=data)
    assert network.fc.out_features == 3 and isinstance(network, __import__("torchvision").models.ResNet)
    loss = plugin.modelzoo_build_loss(context=ctx, data=data)
    logits = network(augmented)
    targets = torch.tensor([data.dataset[i][1] for i in range(8)])
    assert torch.isclose(loss(logits, targets), torch.nn.functional.cross_entropy(logits, targets))

    def no_barrier():
        raise AssertionError("evaluation ran a barrier: rank 0 evaluates alone")

    eval_context = context(tiny_demo(), tmp_path, rank=0, world_size=2, barrier=no_barrier)
    network.eval()
    with torch.no_grad():
        result = plugin.modelzoo_evaluate(context=eval_context, network=network)
    assert set(result.metrics) == {"acc1", "acc5", "eval_images"} and result.metrics["eval_images"] == 18
    assert 0.0 <= result.metrics["acc1"] <= result.metrics["acc5"] == 100.0  # 3 classes: top-5 is everything
    assert result.identity.kind == "synthetic" and result.identity.images == 18


def test_label_smoothing_reaches_the_loss(tmp_path):
    ctx = context(profile("demo", loss={"label_smoothing": 0.1}), tmp_path)
    data = TrainData(dataset=[], identity=None, info={"num_classes": 4})
    loss = plugin.modelzoo_build_loss(context=ctx, data=data)
    logits, targets = torch.randn(5, 4), torch.tensor([0, 1, 2, 3, 0])
    expected = torch.nn.functional.cross_entropy(logits, targets, label_smoothing=0.1)
    assert torch.isclose(loss(logits, targets), expected)
    with pytest.raises(UserError, match="label_smoothing 1.0"):
        plugin.modelzoo_build_loss(context=context(profile("demo", loss={"label_smoothing": 1.0}), tmp_path),
                                   data=data)


def test_lfw_people_train_data_is_real_and_records_the_split(tmp_path):
    import cv2
    import numpy as np

    for k in range(3):  # three people with 8 images each
        folder = tmp_path / "raw" / "images_deepfunneled" / f"P_{k}"
        folder.mkdir(parents=True)
        for i in range(8):
            cv2.imwrite(str(folder / f"P_{k}_{i:04d}.jpg"),
                        np.random.default_rng([k, i]).integers(0, 256, (250, 250, 3), dtype=np.uint8))
    prepare_lfw_people(tmp_path / "raw", tmp_path / "data" / "lfw_people", min_images=8, log=lambda _: None)
    config = profile("lfw-people", data={"val_resize": 20, "train_crop": 16, "val_crop": 16})
    ctx = context(config, tmp_path, "lfw-people")
    assert plugin.modelzoo_check_data(context=ctx) == []
    data = plugin.modelzoo_train_data(context=ctx)
    assert data.info["num_classes"] == 3 and data.identity.kind == "real" and data.identity.images == 18
    extra = data.identity.extra
    assert (extra["seed"], extra["test_fraction"], extra["crop"], extra["test_images"]) == (0, 0.25, 150, 6)
    assert len(extra["sha256"]) == 64
    network = plugin.modelzoo_build_model(context=ctx, data=data).eval()
    with torch.no_grad():
        result = plugin.modelzoo_evaluate(context=ctx, network=network)
    assert result.metrics["eval_images"] == 6 and result.identity.kind == "real"


def test_weights_load_back_and_a_wrong_arch_is_a_user_error(tmp_path):
    ctx = context(profile("demo"), tmp_path)
    network = plugin.build_network(ctx, num_classes=5)
    state = {"model": network.state_dict(), "loss": {}, "step": 3}  # a core checkpoint
    loaded = plugin.modelzoo_load_weights(context=ctx, state=state, path=tmp_path / "checkpoint.pt")
    assert loaded.fc.out_features == 5
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), network.state_dict().values()))
    as_resnet34 = context(profile("demo", model={"arch": "resnet34"}), tmp_path)
    with pytest.raises(UserError, match="does not fit model.arch 'resnet34'"):
        plugin.modelzoo_load_weights(context=as_resnet34, state=state, path=tmp_path / "checkpoint.pt")
    as_mobilenet = context(profile("demo", model={"arch": "mobilenet_v3_small"}), tmp_path)
    with pytest.raises(UserError, match="no mobilenet_v3_small state dict"):
        plugin.modelzoo_load_weights(context=as_mobilenet, state=state, path=tmp_path / "checkpoint.pt")


def test_environment_names_versions_without_importing_torchvision():
    facts = plugin.modelzoo_environment(model="resnet50")
    assert facts["modelzoo_classification"] == plugin.__version__
    assert facts["torchvision"].split("+")[0] == __import__("torchvision").__version__.split("+")[0]


def test_imagenet_source_reads_the_prepared_index(imagenet_raw, tmp_path):
    from modelzoo_classification.imagenet import prepare_imagenet

    prepare_imagenet(imagenet_raw, tmp_path / "data" / "imagenet_index", log=lambda _: None)
    config = profile("imagenet", data={"train_crop": 28, "val_resize": 32, "val_crop": 28},
                     eval={"batch_size": 4, "num_workers": 0}, model={"arch": "resnet18"})
    ctx = context(config, tmp_path, "imagenet")
    assert plugin.modelzoo_check_data(context=ctx) == []
    data = plugin.modelzoo_train_data(context=ctx)
    assert data.info == {"num_classes": 3} and data.identity.kind == "real" and data.identity.images == 12
    assert data.identity.extra["val_images"] == 6 and data.identity.extra["val_labels"] == "folders"
    image, label = data.dataset[4]
    assert image.dtype == torch.uint8 and tuple(image.shape) == (3, 28, 28) and label == 1
    network = plugin.modelzoo_build_model(context=ctx, data=data).eval()
    with torch.no_grad():
        result = plugin.modelzoo_evaluate(context=ctx, network=network)
    assert result.metrics["eval_images"] == 6 and result.identity.name == "ImageNet val"
