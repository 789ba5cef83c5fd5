"""The classification plugin's hook implementations: the only module that knows the modelzoo contract.

The core calls these hooks only for this plugin's model (``resnet50``), so none of them
checks ``context.model``. Everything else in the package is plain PyTorch/numpy code;
heavy imports (torch, torchvision, OpenCV) happen inside the hooks, so ``modelzoo list``
stays instant.

Data by ``data.source``:

- ``imagenet``: the index ``modelzoo prepare resnet50 --imagenet RAW`` wrote; loader
  workers decode JPEGs and apply RandomResizedCrop; flip and normalization on the device.
- ``demo`` and ``lfw-people``: small sets decoded once into a uint8 memmap
  (:class:`modelzoo.toolkit.imagedata.DecodedCache`), all augmentation on the device.
"""

from __future__ import annotations

import argparse
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

from modelzoo import hookimpl
from modelzoo.contract.api import (
    ConfigColumn,
    DataIdentity,
    EvalResult,
    MetricColumn,
    ModelSpec,
    PrepareResult,
    ResultTable,
    RunContext,
    TrainData,
    UserError,
    int_at_least,
)
from modelzoo_classification import __version__
from modelzoo_classification.profiles import PROFILES

MODEL = "resnet50"
SOURCES = ("imagenet", "demo", "lfw-people")
PREPARE_HINT = {
    "imagenet": "run 'modelzoo prepare resnet50 --imagenet RAW_IMAGENET_DIR --data-root {root}' "
                "or try '--profile demo'",
    "lfw-people": "run 'modelzoo prepare resnet50 --lfw RAW_LFW_DIR --data-root {root}' or try '--profile demo'",
}


@hookimpl
def modelzoo_models() -> list[ModelSpec]:
    return [ModelSpec(
        name=MODEL, display_name="ResNet50",
        description="ResNet-50 image classification (torchvision), top-1/top-5 on ImageNet val",
        metric_columns=(MetricColumn("acc1", "Acc@1", "{:.2f}", lowest=0.0, highest=100.0),  # percent
                        MetricColumn("acc5", "Acc@5", "{:.2f}", lowest=0.0, highest=100.0)),
        throughput_unit="images/s",
        table=ResultTable(layout="configs", configs=(
            ConfigColumn("FP32", {"train.amp": ("none",)}),
            ConfigColumn("AMP+NHWC", {"train.amp": ("bf16", "fp16"), "train.channels_last": (True,)}))),
        profiles=PROFILES, default_profile="imagenet")]


@hookimpl
def modelzoo_environment(model: str) -> dict:
    try:  # the installed version, without importing torchvision (slow) into the CLI
        torchvision = metadata.version("torchvision")
    except metadata.PackageNotFoundError:
        torchvision = None
    return {"torchvision": torchvision, "modelzoo_classification": __version__}


# --- Data preparation ----------------------------------------------------------------------

@hookimpl
def modelzoo_prepare_arguments(model: str, parser: argparse.ArgumentParser) -> bool:
    parser.add_argument("--imagenet", metavar="RAW", type=Path,
                        help="ImageNet folder (train/<wnid>/, val/<wnid>/ or val/ + val_list.txt): check "
                             "it and write the index to DATA_ROOT/imagenet_index")
    parser.add_argument("--check", choices=("header", "decode"), default="header",
                        help="how each ImageNet image is checked: its file signature (fast) or a full "
                             "decode (default: header)")
    parser.add_argument("--workers", type=int_at_least(1), default=8, help="threads for the image check (default 8)")
    parser.add_argument("--lfw", metavar="RAW", type=Path,
                        help="LFW folder (holding images_deepfunneled/): write the lfw-people split and "
                             "centre crops to DATA_ROOT/lfw_people")
    parser.add_argument("--lfw-min-images", type=int_at_least(2), default=20, help="people with this many images become "
                        "classes (default 20: 62 people)")
    parser.add_argument("--lfw-test-fraction", type=float, default=0.25,
                        help="share of each person's images held out for testing (default 0.25)")
    parser.add_argument("--lfw-seed", type=int_at_least(0), default=0, help="seed of the train/test draw (default 0)")
    parser.add_argument("--lfw-crop", type=int_at_least(16), default=150, help="side of the centre square kept of the "
                        "250x250 images (default 150)")
    return True


@hookimpl
def modelzoo_prepare(model: str, options: dict[str, Any], data_root: Path) -> PrepareResult:
    if not options.get("imagenet") and not options.get("lfw"):
        raise UserError("nothing to prepare; pass --imagenet RAW_IMAGENET_DIR and/or --lfw RAW_LFW_DIR")
    defaults = PROFILES["imagenet"]["data"]
    results = []
    if options.get("imagenet"):
        from modelzoo_classification.imagenet import prepare_imagenet

        results.append(prepare_imagenet(options["imagenet"], data_root / defaults["imagenet_index"],
                                        check=options["check"], workers=options["workers"]))
    if options.get("lfw"):
        from modelzoo_classification.lfw_people import prepare_lfw_people

        results.append(prepare_lfw_people(options["lfw"], data_root / defaults["lfw_people_dir"],
                                          min_images=options["lfw_min_images"],
                                          test_fraction=options["lfw_test_fraction"], seed=options["lfw_seed"],
                                          crop=options["lfw_crop"]))
    if len(results) == 1:
        return results[0]
    failures = [r.failures_file for r in results if r.failures_file]
    return PrepareResult(outputs={k: v for r in results for k, v in r.outputs.items()},
                         processed=sum(r.processed for r in results), skipped=sum(r.skipped for r in results),
                         failed=sum(r.failed for r in results), failures_file=failures[0] if failures else None,
                         seconds=sum(r.seconds for r in results))


def _source(context: RunContext) -> str:
    source = context.config["data"]["source"]
    if source not in SOURCES:
        raise UserError(f"data.source '{source}' is not known; use one of {', '.join(SOURCES)}")
    return source


def _hint(context: RunContext) -> str:
    return PREPARE_HINT[_source(context)].format(root=context.data_root)


def _data_dir(context: RunContext) -> Path:
    data = context.config["data"]
    key = {"imagenet": "imagenet_index", "lfw-people": "lfw_people_dir"}[_source(context)]
    return context.data_root / data[key]


@hookimpl
def modelzoo_check_data(context: RunContext) -> list[str]:
    source = _source(context)
    if source == "demo":
        return []  # generated on first use
    try:
        if source == "imagenet":
            from modelzoo_classification.imagenet import read_meta

            read_meta(_data_dir(context), _hint(context))
        else:
            from modelzoo_classification.lfw_people import read_split

            read_split(_data_dir(context), _hint(context))
    except UserError as exc:
        return [str(exc)]
    return []


# --- Training data -----------------------------------------------------------------------

def _demo_root(context: RunContext) -> Path:
    """Where this config's demo set is (or will be): one folder per distinct set."""
    data = context.config["data"]
    return (context.cache_dir / "classification" /
            f"demo-seed{data['demo_seed']}-{data['demo_classes']}c-{data['demo_train_per_class']}+"
            f"{data['demo_test_per_class']}-{data['val_resize']}px")


def demo_set(context: RunContext):
    """Generate (or reuse) the demo set; only rank 0 writes (the caller adds the barrier)."""
    from modelzoo_classification.demo import generate_demo_set

    data = context.config["data"]
    return generate_demo_set(_demo_root(context), seed=data["demo_seed"], classes=data["demo_classes"],
                             train_per_class=data["demo_train_per_class"],
                             test_per_class=data["demo_test_per_class"], size=data["val_resize"],
                             log=context.log if context.is_main else None)


def _cached_index(context: RunContext, part: str, all_ranks: bool):
    """Demo or lfw-people ``part`` (train/test) as an ImageIndex, and facts for its DataIdentity.

    With ``all_ranks``, rank 0 generates what is missing and every rank waits at the barrier;
    without (evaluation, on rank 0 alone), no barrier.
    """
    from modelzoo.toolkit.imagedata import scan_class_folders

    data = context.config["data"]
    if _source(context) == "demo":
        demo = demo_set(context) if context.is_main else None
        if all_ranks:
            context.barrier()
        demo = demo or demo_set(context)
        if context.is_main and all_ranks:
            context.log(f"demo data: {demo.classes} classes, {demo.train_images} train / {demo.test_images} "
                        f"held-out images ({f'generated in {demo.seconds:.1f}s' if demo.generated else 'reused'}) "
                        f"at {demo.root}")
        index = scan_class_folders(demo.train_dir if part == "train" else demo.test_dir)
        return index, {"seed": data["demo_seed"], "generator": "modelzoo_classification.demo", "root": str(demo.root)}
    from modelzoo_classification.lfw_people import read_split, split_index

    out = _data_dir(context)
    record = read_split(out, _hint(context))
    extra = {key: record[key] for key in ("seed", "test_fraction", "min_images", "crop", "crop_box", "sha256",
                                          "train_images", "test_images")}
    return split_index(out, record, part), {"split_file": str(out / "split.json"), **extra}


def _decoded(context: RunContext, index, all_ranks: bool):
    """The uint8 memmap of ``index`` at ``data.val_resize`` (built by rank 0)."""
    from modelzoo.toolkit.imagedata import DecodedCache

    where, size = context.cache_dir / "classification", context.config["data"]["val_resize"]
    cache = DecodedCache.open(index, where, resize_to=size, log=context.log) if context.is_main else None
    if all_ranks:
        context.barrier()
    return cache or DecodedCache.open(index, where, resize_to=size)


def augment(context: RunContext, train: bool):
    from modelzoo.toolkit.imagedata import IMAGENET_MEAN, IMAGENET_STD, DeviceAugment

    data = context.config["data"]
    crop = data["train_crop"] if train else data["val_crop"]
    return DeviceAugment(crop, train=train, flip=data["flip"], brightness=data["brightness"],
                         contrast=data["contrast"], scale=data["scale_jitter"], rotate=data["rotate_degrees"],
                         erase=data["erase_probability"], mean=IMAGENET_MEAN, std=IMAGENET_STD,
                         channels_last=context.config["train"]["channels_last"])


@hookimpl
def modelzoo_train_data(context: RunContext) -> TrainData:
    from modelzoo_classification.models import check_arch

    check_arch(context.config["model"]["arch"])  # a typo fails before any data is generated
    data = context.config["data"]
    source = _source(context)
    if source == "imagenet":
        from modelzoo_classification.imagenet import RandomResizedCropDataset, read_index

        index = read_index(_data_dir(context), _hint(context))
        dataset = RandomResizedCropDataset(index.root, index.train, size=data["train_crop"],
                                           scale=(data["min_scale"], 1.0))
        identity = DataIdentity(name=data["name"], kind="real", path=str(index.root), images=len(dataset),
                                identities=len(index.classes),
                                extra={"index": str(_data_dir(context)), "val_images": len(index.val.paths),
                                       "val_labels": index.meta["val_labels"],
                                       "failures_left_out": index.meta["failures"]})
        num_classes = len(index.classes)
    else:
        index, extra = _cached_index(context, "train", all_ranks=True)
        dataset = _decoded(context, index, all_ranks=True).dataset()
        identity = DataIdentity(name=data["name"], kind="synthetic" if source == "demo" else "real",
                                path=index.root, images=len(index), identities=index.num_classes, extra=extra)
        num_classes = index.num_classes
    return TrainData(dataset=dataset, identity=identity, device_transform=augment(context, train=True),
                     info={"num_classes": num_classes})


# --- Model and loss ----------------------------------------------------------------------

def build_network(context: RunContext, num_classes: int):
    from modelzoo_classification.models import build_network as torchvision_network

    model = context.config["model"]
    return torchvision_network(model["arch"], num_classes, width=model["width"], dropout=model["dropout"],
                               zero_init_residual=model["zero_init_residual"])


@hookimpl
def modelzoo_build_model(context: RunContext, data: TrainData):
    return build_network(context, data.info["num_classes"])


@hookimpl
def modelzoo_build_loss(context: RunContext, data: TrainData):
    from torch import nn

    smoothing = context.config["loss"]["label_smoothing"]
    if not 0.0 <= smoothing < 1.0:
        raise UserError(f"loss.label_smoothing {smoothing} is out of range; use 0 <= value < 1")
    return nn.CrossEntropyLoss(label_smoothing=smoothing)


# --- Evaluation, weights, export -----------------------------------------------------------

def eval_batches(context: RunContext):
    """Held-out batches of uint8 images, their count and the data's identity."""
    data, settings = context.config["data"], context.config["eval"]
    if _source(context) == "imagenet":
        from torch.utils.data import DataLoader

        from modelzoo.toolkit.imagedata import worker_init
        from modelzoo_classification.imagenet import ResizeCentreCropDataset, read_index

        index = read_index(_data_dir(context), _hint(context))
        dataset = ResizeCentreCropDataset(index.root, index.val, resize=data["val_resize"], crop=data["val_crop"])
        workers = settings["num_workers"]
        loader = DataLoader(dataset, batch_size=settings["batch_size"], num_workers=workers,
                            pin_memory=context.device.startswith("cuda"),
                            worker_init_fn=worker_init if workers else None)
        identity = DataIdentity(name="ImageNet val", kind="real", path=str(index.root), images=len(dataset),
                                identities=len(index.classes), extra={"val_labels": index.meta["val_labels"]})
        return loader, identity
    from modelzoo_classification.evaluate import array_batches

    index, extra = _cached_index(context, "test", all_ranks=False)
    cache = _decoded(context, index, all_ranks=False)
    kind = "synthetic" if _source(context) == "demo" else "real"
    name = f"{data['name']} held-out" if kind == "synthetic" else f"{data['name']} test split"
    identity = DataIdentity(name=name, kind=kind, path=index.root, images=len(index), identities=index.num_classes,
                            extra=extra)
    return array_batches(cache.images, cache.labels, settings["batch_size"]), identity


@hookimpl
def modelzoo_evaluate(context: RunContext, network) -> EvalResult:
    # The core calls this on rank 0 alone: no barrier anywhere on this path.
    from modelzoo_classification.evaluate import accuracy

    batches, identity = eval_batches(context)
    train = context.config["train"]
    metrics = accuracy(network, batches, context.device, augment(context, train=False), amp=train["amp"],
                       channels_last=train["channels_last"], log=context.log)
    return EvalResult(metrics=metrics, identity=identity)


@hookimpl
def modelzoo_load_weights(context: RunContext, state: dict, path: Path):
    # The core has read ``path`` with torch.load(..., weights_only=True); ``state`` is what it held.
    from modelzoo_classification.models import classifier_weight_key

    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a modelzoo checkpoint (torchvision's reference saves the same key)
    arch = context.config["model"]["arch"]
    key = classifier_weight_key(arch)
    if not isinstance(state, dict) or key not in state:
        raise UserError(f"{path} holds no {arch} state dict (no '{key}'); pass a modelzoo checkpoint or a "
                        "torchvision state dict, with the --profile / --set model.arch it was trained with")
    network = build_network(context, int(state[key].shape[0]))
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise UserError(f"{path} does not fit model.arch '{arch}' ({first}); pass the --profile or "
                        "--set model.arch the weights were trained with") from None
    return network


EXPORT_EXAMPLES = 4  # images the exported file is compared with the network on


@hookimpl
def modelzoo_export(context: RunContext, network, fmt: str, output: Path) -> Optional[str]:
    """The classifier's logits: input ``images`` (N x 3 x val_crop x val_crop, normalized as evaluation
    feeds them: ImageNet mean/std in pixel units), output ``logits`` (N x classes), checked on a few
    held-out images (random pixels when the evaluation set is not on disk)."""
    import torch

    from modelzoo.toolkit.export import check_format, export_module

    fmt = check_format(fmt)  # a wrong format fails before any image is read
    images, inputs = example_images(context, EXPORT_EXAMPLES), "held-out images"
    if images is None:
        size = context.config["data"]["val_resize"]
        generator = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (EXPORT_EXAMPLES, 3, size, size), generator=generator, dtype=torch.uint8)
        inputs = "random images"
    with torch.no_grad():  # the evaluation's own transform: centre crop, normalization
        example = augment(context, train=False)(images).contiguous()
    # Logits have no fixed scale: allow 1e-4 of the largest on top of the absolute 1e-4.
    return export_module(network.cpu().eval(), fmt, output, example, input_name="images", output_name="logits",
                         relative_tolerance=1e-4, inputs=inputs)


def example_images(context: RunContext, count: int):
    """``count`` held-out images (uint8 N x 3 x H x W, as evaluation reads them, before its transform), spread
    over the set's classes, when the profile's evaluation set is on disk; else None. Generates nothing."""
    import torch

    data = context.config["data"]
    source = _source(context)
    if source == "imagenet":
        from modelzoo_classification.imagenet import ResizeCentreCropDataset, read_index

        try:
            index = read_index(_data_dir(context), _hint(context))
        except UserError:
            return None
        dataset = ResizeCentreCropDataset(index.root, index.val, resize=data["val_resize"], crop=data["val_crop"])
        picks = _spread(len(dataset), count)
        return torch.stack([dataset[i][0] for i in picks]) if picks else None
    from modelzoo.toolkit.imagedata import decode_image

    if source == "demo":
        from modelzoo.toolkit.imagedata import scan_class_folders
        from modelzoo_classification.demo import read_manifest

        root = _demo_root(context)
        if read_manifest(root) is None:
            return None
        try:
            paths = scan_class_folders(root / "test").paths
        except UserError:
            return None
    else:
        from modelzoo_classification.lfw_people import read_split, split_index

        try:
            record = read_split(_data_dir(context), _hint(context))
        except UserError:
            return None
        paths = [p for p in split_index(_data_dir(context), record, "test").paths if Path(p).is_file()]
    picks = _spread(len(paths), count)
    if not picks:
        return None
    # The decoded cache stores each image at data.val_resize: the same decode and resize.
    return torch.stack([torch.from_numpy(decode_image(paths[i], data["val_resize"])).permute(2, 0, 1)
                        for i in picks])


def _spread(total: int, count: int) -> list[int]:
    """Up to ``count`` indices evenly over ``range(total)`` (class-sorted sets: several classes)."""
    return sorted({i * total // count for i in range(count)}) if total >= count else list(range(total))
