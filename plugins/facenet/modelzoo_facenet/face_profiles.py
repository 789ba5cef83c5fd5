"""Built-in profiles of the face section's PyTorch recipes. Imports nothing heavy: read at CLI start-up.

Three models beside ``facenet`` (davidsandberg's TF recipe, :mod:`modelzoo_facenet.profiles`),
each with its own profiles; the first (``casia``) is that model's schema. All start from
facenet's ``casia`` keys, so every hook reads the same settings.

- ``facenet-pytorch``: bubbliiiing/facenet-pytorch. MobileNetV1 at 160 x 160, 128-d
  embedding behind dropout (keep 0.5) and a batch norm, triplet (margin 0.2, fixed
  triplets, only those inside the margin count) + cross-entropy of a classifier on the
  embedding, batches of 96 = 32 triplets, Adam 1e-3 cosine to 1e-5, 100 epochs, LFW each epoch.
- ``arcface``: bubbliiiing/arcface-pytorch. MobileFaceNet at 112 x 112 (128-d), ArcFace
  margin, batch 128, SGD momentum 0.9, weight decay 5e-4, lr 1e-2 cosine to 1e-4, 100 epochs.
- ``cosface``: MuggleWang/CosFace_pytorch. sphere20 at 112 x 96 (512-d), CosFace s = 30,
  m = 0.40, batch 512, SGD momentum 0.9, weight decay 5e-4, lr 0.1 divided by 10 at
  iterations 16,000 and 24,000, pixels to [-1, 1], random flip.

Each also has a ``demo`` profile: the recipe scaled down to the synthetic faces
(:mod:`modelzoo_facenet.demo`), minutes on 2 CPU cores, labelled synthetic.

Sizes may be ``[height, width]`` (cosface's 112 x 96) or one int (a square).
"""

from __future__ import annotations

import copy

from modelzoo_facenet.profiles import CASIA as FACENET_CASIA


def _variant(base: dict, changes: dict) -> dict:
    out = copy.deepcopy(base)
    for section, values in changes.items():
        out[section].update(values)
    return out


# What none of the three recipes has: davidsandberg's prelogits penalty and 5% validation split.
_BASE = _variant(FACENET_CASIA, {
    "data": {"validation_fraction": 0.0},
    "loss": {"prelogits_norm_factor": 0.0},
    "eval": {"subtract_mean": False},
})

# --- facenet-pytorch ---------------------------------------------------------------------

FACENET_PYTORCH_CASIA = _variant(_BASE, {
    # 160 x 160 input: the prepared CASIA box crops at 182 (margin 44) cropped at 160,
    # randomly in training (the recipe's own augmentation is random resizing/flips), and
    # LFW's 160 px crops (margin 32 at 160: the same framing as a 160 window of the 182
    # crop). No new set to prepare; the same data as facenet's casia.
    "data": {"train_dir": "webface_182_44", "lfw_dir": "lfw_data/lfw_160", "image_size": 182,
             "crop_size": 160, "flip": True},
    # Dropout keep 0.5 before the 128-d bottleneck and its batch norm (eps 1e-3, momentum 0.1).
    # The recipe starts the backbone from ImageNet weights; none ship here (no download), so
    # the backbone trains from scratch.
    "model": {"backbone": "mobilenet_v1", "embedding_size": 128, "width": 1.0, "dropout_keep": 0.5,
              "bn_momentum": 0.1, "bn_eps": 0.001},
    "loss": {"name": "triplet_softmax", "margin": 0.2},
    # The recipe's LFW check: the normalized embeddings, Euclidean distance, no mirror.
    "eval": {"image_size": 160, "crop_size": 0, "flip": False, "distance": "euclidean"},
    # 96 = 32 (anchor, positive, negative) triplets; an epoch is one pass over the images.
    "train": {"seed": 11, "epochs": 100, "steps_per_epoch": 0, "batch_size": 96, "num_workers": 8,
              "eval_every_epochs": 1, "checkpoint_every": 5000},
    # lr 1e-3 (the recipe's batch scaling, 96 / 64 x 1e-3, is capped at Adam's 1e-3) to 1e-5.
    "optimizer": {"name": "adam", "lr": 1e-3, "eps": 1e-8, "weight_decay": 0.0},
    "schedule": {"name": "cosine", "milestones": {}, "warmup_epochs": 0.0, "min_lr": 1e-5},
})

FACENET_PYTORCH_DEMO = _variant(FACENET_PYTORCH_CASIA, {
    # The recipe's loss and batch layout (32 triplets + cross-entropy) at facenet's demo
    # geometry: 54 px synthetic faces cropped to 48, a MobileNetV1 at width 0.5.
    "data": {"source": "demo", "name": "synthetic faces (demo)", "image_size": 54, "crop_size": 48,
             "decoded_cache": True},
    "model": {"width": 0.5, "dropout_keep": 1.0},
    "eval": {"image_size": 48, "crop_size": 48, "batch_size": 200, "num_workers": 0},
    # 24 epochs (1,992 steps of 96). Measured (docs/BENCHMARKS.md): 16 epochs 0.904 in 1 min 4 s,
    # 30 epochs 0.938 in 2 min 47 s beside a busy neighbour.
    "train": {"seed": 0, "epochs": 24, "steps_per_epoch": 0, "batch_size": 96, "num_workers": 0,
              "eval_every_epochs": 0, "checkpoint_every": 0, "log_every": 50,
              "fps_warmup_steps": 10, "compute_fps_steps": 20, "channels_last": True},
    "optimizer": {"name": "adamw", "lr": 0.004, "weight_decay": 5e-4},
    "schedule": {"min_lr": 0.0},
})

# --- arcface -----------------------------------------------------------------------------

ARCFACE_CASIA = _variant(_BASE, {
    "data": {"train_dir": "webface_112x112", "lfw_dir": "lfw_data/lfw_112x112", "image_size": 112,
             "crop_size": 112, "flip": True},
    "model": {"backbone": "mobilefacenet", "embedding_size": 128, "width": 1.0, "dropout_keep": 1.0},
    # The ArcFace paper's scale 64 and margin 0.5.
    "loss": {"name": "arcface", "scale": 64.0, "margin": 0.5},
    "eval": {"image_size": 112, "crop_size": 0, "flip": False, "distance": "euclidean"},
    "train": {"seed": 11, "epochs": 100, "steps_per_epoch": 0, "batch_size": 128, "num_workers": 8,
              "eval_every_epochs": 1, "checkpoint_every": 5000},
    "optimizer": {"name": "sgd", "lr": 1e-2, "momentum": 0.9, "weight_decay": 5e-4},
    "schedule": {"name": "cosine", "milestones": {}, "warmup_epochs": 0.0, "min_lr": 1e-4},
})

ARCFACE_DEMO = _variant(ARCFACE_CASIA, {
    # MobileFaceNet at width 0.5 on 54 px synthetic faces cropped to 48, ArcFace margin (scale
    # 30 for 400 classes): 1,000 steps of 64 scored 0.960 in 1 min 38 s (docs/BENCHMARKS.md).
    "data": {"source": "demo", "name": "synthetic faces (demo)", "image_size": 54, "crop_size": 48,
             "decoded_cache": True},
    "model": {"width": 0.5},
    "loss": {"scale": 30.0, "margin": 0.5},
    "eval": {"image_size": 48, "crop_size": 48, "batch_size": 200, "num_workers": 0},
    "train": {"seed": 0, "epochs": 8, "steps_per_epoch": 0, "batch_size": 64, "num_workers": 0,
              "eval_every_epochs": 0, "checkpoint_every": 0, "log_every": 50,
              "fps_warmup_steps": 10, "compute_fps_steps": 20, "channels_last": True},
    "optimizer": {"name": "adamw", "lr": 0.01, "weight_decay": 5e-4},
    "schedule": {"min_lr": 0.0},
})

ARCFACE_LFW_UNRESTRICTED = _variant(ARCFACE_CASIA, {
    # LFW unrestricted (docs/PROTOCOLS.md): train on the people of 9 of people.txt's sets with
    # 2+ images, score the held-out fold. Sized for 2 CPU cores in about 20 minutes: the
    # 112x112 aligned LFW (prepare --aligned 112x112) decoded once at 64 px, random crop 60
    # (the centre 105 of 112 at evaluation: the same window), scale/rotation/colour jitter,
    # MobileFaceNet at width 0.5, ArcFace margin, the settings of facenet's lfw-unrestricted.
    "data": {"source": "lfw-unrestricted", "name": "LFW", "image_size": 64, "crop_size": 60,
             "min_images_per_identity": 2, "brightness": 0.2, "contrast": 0.2, "scale_jitter": 0.15,
             "rotate_degrees": 15.0, "decoded_cache": True, "test_fold": 1},
    "model": {"width": 0.5},
    "loss": {"scale": 30.0, "margin": 0.5},
    "eval": {"image_size": 60, "crop_size": 105, "batch_size": 200, "folds": "interleaved",
             "flip": True, "distance": "cosine", "num_workers": 0},
    "train": {"seed": 0, "epochs": 40, "steps_per_epoch": 0, "batch_size": 64, "num_workers": 0,
              "eval_every_epochs": 0, "checkpoint_every": 1000, "log_every": 50, "channels_last": True},
    "optimizer": {"name": "adamw", "lr": 0.01, "weight_decay": 0.05},
    "schedule": {"name": "cosine", "milestones": {}, "warmup_epochs": 2.0, "min_lr": 0.0},
})

# --- cosface -----------------------------------------------------------------------------

COSFACE_CASIA = _variant(_BASE, {
    "data": {"train_dir": "webface_112x96", "lfw_dir": "lfw_data/lfw_112x96", "image_size": [112, 96],
             "crop_size": [112, 96], "flip": True, "pixel_std": 127.5},
    "model": {"backbone": "sphere20", "embedding_size": 512, "width": 1.0, "dropout_keep": 1.0},
    "loss": {"name": "cosface", "scale": 30.0, "margin": 0.40},
    # The recipe's LFW check: image and mirror concatenated, cosine similarity.
    "eval": {"image_size": [112, 96], "crop_size": 0, "flip": True, "distance": "cosine"},
    # Milestones are in iterations: an "epoch" here is 1,000 iterations, so the lr drops at
    # 16 and 24 of them (16,000 and 24,000) and 29,000 iterations are the recipe's 30 CASIA
    # epochs (494,414 images / 512 = 966 iterations each).
    "train": {"seed": 11, "epochs": 29, "steps_per_epoch": 1000, "batch_size": 512, "num_workers": 8,
              "eval_every_epochs": 1, "checkpoint_every": 2000},
    "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4},
    "schedule": {"name": "steps", "milestones": {0: 0.1, 16: 0.01, 24: 0.001}},
})

COSFACE_DEMO = _variant(COSFACE_CASIA, {
    # sphere20 at width 0.25 on a 7:6-ish window (48 x 40, random in training) of 54 px
    # synthetic faces; CosFace s = 30, m = 0.40, pixels to [-1, 1].
    "data": {"source": "demo", "name": "synthetic faces (demo)", "image_size": [54, 54],
             "crop_size": [48, 40], "decoded_cache": True},
    "model": {"width": 0.25},
    "eval": {"image_size": [48, 40], "crop_size": [48, 40], "batch_size": 200, "num_workers": 0},
    # Without batch norm it learns slowly: lr 0.001 x 8 epochs scored 0.836 (46 s), lr 0.003 x 16
    # epochs (2,000 steps) 0.960 in 1 min 35 s (docs/BENCHMARKS.md).
    "train": {"seed": 0, "epochs": 16, "steps_per_epoch": 0, "batch_size": 64, "num_workers": 0,
              "eval_every_epochs": 0, "checkpoint_every": 0, "log_every": 50,
              "fps_warmup_steps": 10, "compute_fps_steps": 20, "channels_last": True},
    "optimizer": {"name": "adamw", "lr": 0.003, "weight_decay": 5e-4},
    "schedule": {"name": "cosine", "milestones": {}, "min_lr": 0.0},
})

FACENET_PYTORCH_PROFILES = {"casia": FACENET_PYTORCH_CASIA, "demo": FACENET_PYTORCH_DEMO}
ARCFACE_PROFILES = {"casia": ARCFACE_CASIA, "demo": ARCFACE_DEMO, "lfw-unrestricted": ARCFACE_LFW_UNRESTRICTED}
COSFACE_PROFILES = {"casia": COSFACE_CASIA, "demo": COSFACE_DEMO}
