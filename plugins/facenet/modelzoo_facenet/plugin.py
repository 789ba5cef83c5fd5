"""The facenet plugin's hook implementations: the module that answers the core's hooks.

The rest of this package is plain PyTorch/numpy code with its own API (it uses a few of
the core's helpers: ``UserError``, ``modelzoo.toolkit.runtime``, ``modelzoo.toolkit.imagedata``); this
file maps a resolved profile (``context.config``) onto it. Heavy imports happen inside
the hooks, so ``modelzoo list`` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from modelzoo import hookimpl
from modelzoo.contract.api import (
    CurveSpec,
    DataIdentity,
    EvalResult,
    MetricColumn,
    ModelSpec,
    RunContext,
    TrainData,
    UserError,
)
from modelzoo.toolkit.imageheader import header_size
from modelzoo_facenet import __version__
from modelzoo_facenet.face_profiles import ARCFACE_PROFILES, COSFACE_PROFILES, FACENET_PYTORCH_PROFILES
from modelzoo_facenet.profiles import PROFILES
from modelzoo_facenet.sizes import size_of

MODEL = "facenet"
LFW_ACCURACY = MetricColumn("lfw_accuracy", "LFW_Accuracy", "{:.5f}", std_key="lfw_accuracy_std", lowest=0.0,
                            highest=1.0)
ROC = CurveSpec("roc", x="fpr", y="tpr", title="ROC", x_label="false positive rate",
                y_label="true positive rate", caption_metric="auc")
PREPARE_HINT = {
    "folders": "run 'modelzoo prepare facenet --casia RAW_DIR --lfw RAW_DIR --data-root {root}' "
               "or try '--profile demo'",
    "lfw-unrestricted": "run 'modelzoo prepare facenet --lfw LFW_RAW_DIR --data-root {root}' "
                        "(people.txt is copied beside pairs.txt) or try '--profile demo'",
}


@hookimpl
def modelzoo_models() -> list[ModelSpec]:
    return [ModelSpec(
        name=MODEL, display_name="Facenet",
        description="FaceNet: Inception-ResNet-v1 face embeddings, scored on LFW verification",
        metric_columns=(LFW_ACCURACY,), curves=(ROC,), profiles=PROFILES, default_profile="casia"),
        ModelSpec(
            name="facenet-pytorch", display_name="Facenet (PyTorch)",
            description="FaceNet PyTorch port: MobileNetV1 160 px, triplet + cross-entropy, LFW verification",
            metric_columns=(LFW_ACCURACY,), curves=(ROC,), profiles=FACENET_PYTORCH_PROFILES,
            default_profile="casia"),
        ModelSpec(
            name="arcface", display_name="ArcFace",
            description="ArcFace: MobileFaceNet 112x112, additive angular margin, LFW verification",
            metric_columns=(LFW_ACCURACY,), curves=(ROC,), profiles=ARCFACE_PROFILES, default_profile="casia"),
        ModelSpec(
            name="cosface", display_name="CosFace",
            description="CosFace: sphere20 112x96, large-margin cosine loss, LFW verification",
            metric_columns=(LFW_ACCURACY,), curves=(ROC,), profiles=COSFACE_PROFILES, default_profile="casia")]


@hookimpl
def modelzoo_environment(model: str) -> dict:
    # A host without OpenCV still records the run: facenet's own data steps say what is missing.
    try:
        import cv2
    except ImportError:
        return {"opencv": None, "modelzoo_facenet": __version__}
    return {"opencv": cv2.__version__, "modelzoo_facenet": __version__}


# --- Data ----------------------------------------------------------------------------

@hookimpl
def modelzoo_prepare_arguments(model, parser) -> Optional[bool]:
    from modelzoo_facenet import prepare

    prepare.add_prepare_arguments(parser)
    return True


@hookimpl
def modelzoo_prepare(model, options, data_root):
    from modelzoo_facenet import prepare

    return prepare.run_prepare(options, data_root)


def demo_root(context: RunContext) -> Path:
    from modelzoo_facenet.demo import cache_folder_name

    data = context.config["data"]
    return context.cache_dir / "facenet" / cache_folder_name(
        data["demo_seed"], _demo_side(data), data["demo_train_identities"], data["demo_images_per_identity"],
        data["demo_test_identities"])


def _demo_side(data: dict) -> int:
    """The side of the generated demo faces (square): data.image_size."""
    height, width = size_of(data["image_size"])
    if height != width:
        raise UserError(f"the demo generator draws square faces; data.image_size {height}x{width} is not "
                        "square: set it to one side and crop a rectangle with data.crop_size")
    return height


def profile_paths(context: RunContext) -> dict[str, Path]:
    """Where this profile's train images, LFW images, pairs.txt and people.txt are."""
    data = context.config["data"]
    if data["source"] == "demo":
        root = demo_root(context)
        return {"train": root / "train", "lfw": root / "lfw", "pairs": root / "pairs.txt"}
    root = context.data_root
    lfw = {"lfw": root / data["lfw_dir"], "pairs": root / data["lfw_pairs"]}
    if data["source"] == "lfw-unrestricted":
        return {"train": lfw["lfw"], **lfw, "people": root / data["lfw_people"]}
    if data["source"] == "folders":
        return {"train": root / data["train_dir"], **lfw}
    raise UserError(f"data.source '{data['source']}' is not known; use folders, demo or lfw-unrestricted")


def _size_or_none(value):
    """0 (off) -> None; else the (height, width) of a size setting."""
    return None if value in (0, [], None) else size_of(value)


def _stored_size(path: Path) -> Optional[tuple[int, int]]:
    """(height, width) of the first image in ``path``'s identity folders, read from its
    header; None when there is none."""
    for folder in sorted(p for p in path.iterdir() if p.is_dir()):
        for image in sorted(folder.iterdir()):
            if image.suffix.lower() in (".png", ".jpg", ".jpeg"):
                with open(image, "rb") as handle:
                    size = header_size(handle.read(65536))
                return None if size is None else (size[1], size[0])
        break
    return None


@hookimpl
def modelzoo_check_data(context: RunContext) -> Optional[list[str]]:
    from modelzoo_facenet.align import prepare_option_for

    data = context.config["data"]
    if data["source"] == "demo":
        return []  # generated on first use
    hint = PREPARE_HINT[data["source"]].format(root=context.data_root)
    wanted = {"train": size_of(data["image_size"])}
    if not context.config["eval"]["crop_size"]:
        wanted["lfw"] = size_of(context.config["eval"]["image_size"])
    if data["source"] == "folders":
        # the options of `prepare` that build this profile's sizes (its aligned sets or box crops)
        options = sorted({prepare_option_for(wanted["train"], "casia")}
                         | ({prepare_option_for(wanted["lfw"], "lfw")} if "lfw" in wanted else set()))
        hint = hint.replace("--lfw RAW_DIR", "--lfw RAW_DIR " + " ".join(options))
    problems = []
    for what, path in profile_paths(context).items():
        if not path.exists():
            problems.append(f"data not found: {path} ({what}); {hint}")
        elif data["source"] == "folders" and what in wanted and path.is_dir():
            stored = _stored_size(path)
            # One rule for every face model: the folder holds the size the profile reads. Loading
            # would resize anything else, so 182 px crops left in a 112x112 folder would train
            # (or be scored) as if they were the 112x112 aligned faces.
            if stored is not None and stored != wanted[what]:
                option = prepare_option_for(wanted[what], "casia" if what == "train" else "lfw")
                problems.append(f"{path} holds {stored[0]}x{stored[1]} images but {context.model}'s profile "
                                f"reads {wanted[what][0]}x{wanted[what][1]}; run 'modelzoo prepare facenet "
                                f"{option} --data-root {context.data_root}' (with --casia/--lfw RAW_DIR) "
                                "or pick the --profile made for these images")
    return problems


def _demo_dataset(context: RunContext, all_ranks: bool = True):
    """Generate (or reuse) the demo set on rank 0; with ``all_ranks``, every rank calls
    this and waits for it. Evaluation runs on rank 0 alone: a barrier there would pair
    with another rank's next collective and hang the job."""
    from modelzoo_facenet import demo

    data = context.config["data"]
    options = {"train_identities": data["demo_train_identities"] or None,
               "images_per_identity": data["demo_images_per_identity"] or None,
               "test_identities": data["demo_test_identities"] or None,
               "image_size": _demo_side(data)}
    if context.is_main:
        info = demo.generate_demo_dataset(demo_root(context), seed=data["demo_seed"], log=context.log,
                                          **options)
        context.log(f"demo data: {info.train_identities} train identities, {info.train_images} images, "
                    f"{info.test_identities} unseen test identities, {info.pairs} pairs "
                    f"({f'generated in {info.seconds:.1f}s' if info.generated else 'reused'}) at {info.root}")
    if all_ranks:
        context.barrier()


def unrestricted_train_people(context: RunContext, paths: dict[str, Path]) -> tuple[set, str]:
    """LFW unrestricted: the people of the 9 sets other than the test fold's, checked disjoint."""
    from modelzoo_facenet import lfw

    fold = context.config["data"]["test_fold"]
    split = lfw.unrestricted_split(lfw.read_people(paths["people"]), lfw.read_pairs(paths["pairs"]), fold)
    split.check_disjoint()
    return set(split.train_people), f"LFW unrestricted, fold {fold}"


@hookimpl
def modelzoo_train_data(context: RunContext) -> Optional[TrainData]:
    from modelzoo.toolkit import imagedata
    from modelzoo_facenet import data as facedata

    data = context.config["data"]
    if data["source"] == "demo":
        _demo_dataset(context)
    paths = profile_paths(context)
    people, protocol = (None, None)
    if data["source"] == "lfw-unrestricted":
        people, protocol = unrestricted_train_people(context, paths)
    index = facedata.scan_identity_folders(paths["train"], people=people,
                                           min_images=data["min_images_per_identity"])
    held_out = 0
    if data["validation_fraction"] > 0:
        index, validation = facedata.split_validation(index, data["validation_fraction"], seed=context.seed)
        held_out = len(validation)
    resize = size_of(data["image_size"])
    resize = resize[0] if resize[0] == resize[1] else resize  # an int keeps square sets' cache keys
    if data["decoded_cache"]:
        cache = imagedata.DecodedCache.open(index, context.cache_dir / "facenet", resize_to=resize,
                                           log=context.log) if context.is_main else None
        context.barrier()
        cache = cache or imagedata.DecodedCache.open(index, context.cache_dir / "facenet", resize_to=resize)
        dataset = cache.dataset()
    else:
        dataset = imagedata.ImageIndexDataset(index, resize_to=resize)
    augment = imagedata.DeviceAugment(
        size_of(data["crop_size"]), train=True, flip=data["flip"], output_size=_size_or_none(data["train_size"]),
        std=data["pixel_std"],
        brightness=data["brightness"], contrast=data["contrast"], scale=data["scale_jitter"],
        rotate=data["rotate_degrees"], erase=data["erase_probability"],
        channels_last=context.config["train"]["channels_last"])
    batch_sampler = None
    loss = context.config["loss"]
    if loss["name"] == "triplet":
        from modelzoo_facenet.samplers import PKBatchSampler

        per_identity = loss["images_per_identity"] or 3
        batch = context.config["train"]["batch_size"]
        if batch % per_identity:
            raise UserError(f"train.batch_size {batch} is not a multiple of loss.images_per_identity "
                            f"{per_identity}; the triplet loss needs P identities x K images per batch")
        batch_sampler = PKBatchSampler(index.labels, batch // per_identity, per_identity,
                                       rank=context.rank, world_size=context.world_size, seed=context.seed)
    elif loss["name"] == "triplet_softmax":
        from modelzoo_facenet.samplers import TripletBatchSampler

        batch = context.config["train"]["batch_size"]
        if batch % 3:
            raise UserError(f"train.batch_size {batch} is not a multiple of 3; triplet_softmax batches are "
                            "(anchor, positive, negative) triplets: use e.g. 96 (32 triplets)")
        batch_sampler = TripletBatchSampler(index.labels, batch // 3, rank=context.rank,
                                            world_size=context.world_size, seed=context.seed)
    kind = "synthetic" if data["source"] == "demo" else "real"
    identity = DataIdentity(
        name=data["name"], kind=kind, path=str(paths["train"]), images=len(index),
        identities=index.num_classes, protocol=protocol,
        extra={"validation_images_held_out": held_out, "lfw_pairs": str(paths["pairs"])})
    return TrainData(dataset=dataset, identity=identity, batch_sampler=batch_sampler,
                     device_transform=augment, info={"num_classes": index.num_classes})


# --- Model and loss --------------------------------------------------------------------

def network_input(config: dict) -> tuple[int, int]:
    """(height, width) the network sees in training: data.train_size, else data.crop_size."""
    data = config["data"]
    return _size_or_none(data["train_size"]) or size_of(data["crop_size"])


def build_network(config: dict, num_classes: Optional[int] = None):
    settings = config["model"]
    if settings["backbone"] in ("mobilefacenet", "sphere20"):
        if settings["pool_grid"] != 1 or settings["dropout_keep"] != 1.0:
            raise UserError(f"model.pool_grid and model.dropout_keep apply to mobilenet_v1 and "
                            f"inception_resnet_v1 only; pass --set model.pool_grid=1 and model.dropout_keep=1.0 "
                            f"with {settings['backbone']}")
        if settings["backbone"] == "mobilefacenet":
            from modelzoo_facenet.mobilefacenet import MobileFaceNet as network
        else:
            from modelzoo_facenet.sphere import Sphere20 as network
        return network(embedding_size=settings["embedding_size"], input_size=network_input(config),
                       width=settings["width"])
    common = dict(embedding_size=settings["embedding_size"], num_classes=num_classes,
                  dropout_keep=settings["dropout_keep"], bn_momentum=settings["bn_momentum"],
                  bn_eps=settings["bn_eps"])
    if settings["backbone"] == "inception_resnet_v1":
        from modelzoo_facenet.inception_resnet_v1 import InceptionResnetV1

        if settings["pool_grid"] != 1:
            raise UserError("model.pool_grid applies to mobilenet_v1 only; "
                            "drop it or pass --set model.pool_grid=1")
        return InceptionResnetV1(**common)
    if settings["backbone"] == "mobilenet_v1":
        from modelzoo_facenet.mobilenet_v1 import MobileNetV1

        return MobileNetV1(width=settings["width"], pool_grid=settings["pool_grid"], **common)
    raise UserError(f"model.backbone '{settings['backbone']}' is not known; "
                    "use inception_resnet_v1, mobilenet_v1, mobilefacenet or sphere20")


@hookimpl
def modelzoo_build_model(context: RunContext, data: TrainData):
    # The classifier lives in the loss (softmax/CosFace weights); the network ends at the embedding.
    return build_network(context.config)


_LOSS_OPTIONS = {
    "softmax": ("prelogits_norm_factor", "prelogits_norm_p", "center_loss_factor", "center_loss_alfa"),
    "cosface": ("scale", "margin"),
    "arcface": ("scale", "margin"),
    "triplet": ("margin",),
    "triplet_softmax": ("margin",),
}


@hookimpl
def modelzoo_build_loss(context: RunContext, data: TrainData):
    from modelzoo_facenet.losses import build_loss

    settings = context.config["loss"]
    name = settings["name"]
    if name not in _LOSS_OPTIONS:
        raise UserError(f"loss.name '{name}' is not known; use one of {', '.join(_LOSS_OPTIONS)}")
    options = {key: settings[key] for key in _LOSS_OPTIONS[name]}
    return build_loss(name, context.config["model"]["embedding_size"], data.info["num_classes"], **options)


# --- Evaluation, weights, export ---------------------------------------------------------

@hookimpl
def modelzoo_evaluate(context: RunContext, network) -> Optional[EvalResult]:
    from modelzoo_facenet.lfw_eval import evaluate_lfw

    data, settings = context.config["data"], context.config["eval"]
    if data["source"] == "demo":
        _demo_dataset(context, all_ranks=False)  # `modelzoo eval` on the demo profile may come before any run
    paths = profile_paths(context)
    test_fold = data["test_fold"] if data["source"] == "lfw-unrestricted" else None
    result = evaluate_lfw(network.embed, paths["pairs"], paths["lfw"], image_size=size_of(settings["image_size"]),
                          crop_size=_size_or_none(settings["crop_size"]), batch_size=settings["batch_size"],
                          device=context.device, flip=settings["flip"], pixel_std=data["pixel_std"],
                          distance=settings["distance"], subtract_mean=settings["subtract_mean"],
                          allow_missing=settings["allow_missing"], folds=settings["folds"],
                          test_fold=test_fold, num_workers=settings["num_workers"])
    metrics = result.as_metrics()
    if result.missing:
        metrics["lfw_pairs_missing"] = len(result.missing)
    kind = "synthetic" if data["source"] == "demo" else "real"
    protocol = f"LFW unrestricted, fold {test_fold}" if test_fold else None
    identity = DataIdentity(name="synthetic LFW-style pairs (demo)" if kind == "synthetic" else "LFW",
                            kind=kind, path=str(paths["lfw"]), images=result.n_images, identities=result.n_people,
                            protocol=protocol, extra={"pairs": result.n_pairs})
    return EvalResult(metrics=metrics, curves={"roc": {"fpr": list(result.roc_fpr), "tpr": list(result.roc_tpr)}},
                      identity=identity)


@hookimpl
def modelzoo_load_weights(context: RunContext, state: dict, path: Path):
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # a modelzoo checkpoint
    if not isinstance(state, dict) or not state:
        raise UserError(f"{path} holds no state dict; pass a modelzoo checkpoint or a facenet-pytorch "
                        "state dict")
    num_classes = state["logits.weight"].shape[0] if "logits.weight" in state else None
    config = context.config
    embedding = state.get("last_linear.weight")
    if embedding is not None and embedding.shape[0] != config["model"]["embedding_size"]:
        raise UserError(f"{path} has {embedding.shape[0]}-d embeddings but the profile says "
                        f"{config['model']['embedding_size']}; pass --set model.embedding_size="
                        f"{embedding.shape[0]} or the matching --profile")
    network = build_network(config, num_classes)
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise UserError(f"{path} does not fit model.backbone '{config['model']['backbone']}' ({first}); "
                        "pass the --profile the weights were trained with") from None
    return network


@hookimpl
def modelzoo_export(context: RunContext, network, fmt: str, output: Path) -> Optional[str]:
    import torch

    from modelzoo_facenet.export import export_model

    size = size_of(context.config["eval"]["image_size"])
    example = _example_faces(context, size)
    if example is None:
        generator = torch.Generator().manual_seed(0)
        example = torch.rand(4, 3, *size, generator=generator) * 2 - 1
    return export_model(network.cpu().eval(), fmt, output, example)


def _example_faces(context: RunContext, size: tuple[int, int]):
    """A few real (or demo) LFW faces for the export check, when they are on disk."""
    import torch

    from modelzoo_facenet.lfw_eval import load_image, standardization

    try:
        lfw_dir = profile_paths(context)["lfw"]
    except UserError:
        return None
    if not lfw_dir.is_dir():
        return None
    files = sorted(p for p in lfw_dir.glob("*/*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[:4]
    if not files:
        return None
    crop = _size_or_none(context.config["eval"]["crop_size"])
    standardize = standardization(context.config["data"]["pixel_std"])
    return standardize(torch.stack([load_image(p, size, crop) for p in files]).float())
