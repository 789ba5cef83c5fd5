"""The facenet plugin's built-in profiles. Imports nothing heavy: read at CLI start-up.

- ``casia``: davidsandberg/facenet's softmax recipe for Inception-ResNet-v1 on
  CASIA-WebFace, every value it changes from the core's defaults spelled out (the core
  merges modelzoo.contract.settings.CORE_DEFAULTS under every profile). The schema of all profiles.
- ``demo``: a synthetic face-identity set generated from the seed, a small MobileNetV1,
  minutes on a CPU. Needs no download; its results are labelled synthetic.
- ``lfw-unrestricted``: real faces without CASIA: train on the LFW people of 9 of
  people.txt's 10 sets, test on the held-out fold's 600 pairs (docs/PROTOCOLS.md, LFW).
"""

from __future__ import annotations

import copy

CASIA = {
    "data": {
        "source": "folders",               # folders | demo | lfw-unrestricted
        "name": "CASIA-WebFace",
        "train_dir": "webface_182_44",     # under --data-root, as the zoo README lays it out
        "lfw_dir": "lfw_data/lfw_160",
        "lfw_pairs": "lfw_data/pairs.txt",
        "lfw_people": "lfw_data/people.txt",
        "test_fold": 10,                   # lfw-unrestricted: the held-out fold (1-10)
        "image_size": 182,                 # stored size of the aligned images
        "crop_size": 160,                  # random crop 160 of 182
        "train_size": 0,                   # 0: train at crop_size; else resize the crop
        "flip": True,
        "brightness": 0.0,
        "contrast": 0.0,
        "scale_jitter": 0.0,               # crop window scaled by 1 +- this (0: off)
        "rotate_degrees": 0.0,             # and turned by up to +- this many degrees
        "erase_probability": 0.0,          # random erasing: one grey rectangle per sample
        "pixel_std": 128.0,                # pixels to (x - 127.5) / pixel_std (127.5: [-1, 1])
        "validation_fraction": 0.05,       # 5% of each identity's images held out
        "min_images_per_identity": 1,
        "decoded_cache": False,            # decode the aligned set once into a uint8 memmap
        "demo_seed": 0,
        "demo_train_identities": 0,        # 0: the generator's defaults
        "demo_images_per_identity": 0,
        "demo_test_identities": 0,
    },
    "model": {
        "backbone": "inception_resnet_v1",  # inception_resnet_v1 | mobilenet_v1
        "embedding_size": 512,
        "width": 1.0,                       # mobilenet_v1 width multiplier
        "pool_grid": 1,                     # mobilenet_v1: pool to N x N cells (1: global average)
        "dropout_keep": 0.8,
        "bn_momentum": 0.005,               # TF decay 0.995
        "bn_eps": 0.001,
    },
    "loss": {
        "name": "softmax",                  # softmax | cosface | arcface | triplet
        "prelogits_norm_factor": 5e-4,
        "prelogits_norm_p": 1.0,
        "center_loss_factor": 0.0,          # 1e-2 for the older center-loss models
        "center_loss_alfa": 0.95,
        "scale": 30.0,                      # cosface / arcface
        "margin": 0.35,                     # cosface 0.35, arcface 0.5, triplet 0.2
        "images_per_identity": 0,           # triplet: K of the P x K batch (P = batch / K)
    },
    "eval": {
        "image_size": 160,
        "crop_size": 0,                     # 0: the whole aligned image; else its centre square first
        "batch_size": 100,
        "flip": True,                       # embed image and mirror, concatenate
        "distance": "cosine",               # cosine | euclidean
        "subtract_mean": True,
        "folds": "file",                    # file | interleaved (sub-folds balanced same/different)
        "allow_missing": False,
        "num_workers": 2,
    },
    "train": {
        "seed": 666,
        "epochs": 91,                       # the schedule file stops at epoch 91
        "steps_per_epoch": 1000,
        "batch_size": 90,
        "num_workers": 8,
        "prefetch_factor": 4,
        "eval_every_epochs": 5,
        "checkpoint_every": 1000,
        "log_every": 50,
        "fps_warmup_steps": 20,
        "compute_fps_steps": 20,
    },
    "optimizer": {"name": "adam", "lr": 0.05, "eps": 0.1, "weight_decay": 5e-4},
    "schedule": {"name": "steps", "milestones": {0: 0.05, 60: 0.005, 80: 0.0005}},
}


def _variant(base: dict, changes: dict) -> dict:
    out = copy.deepcopy(base)
    for section, values in changes.items():
        out[section].update(values)
    return out


DEMO = _variant(CASIA, {
    # The main job in under 3 minutes on 2 CPU cores, generation included: 1500 steps of 64
    # over 400 synthetic identities at 48 px (faces drawn at 54, random crop 48, scored on the
    # centre 48: the training geometry) with a CosFace margin; decoded once into the cache and
    # resident in RAM. Sized for the slowest 2-core host seen (the AVX2 EPYC). 40, 56 and 64
    # px, batch 128 and 10-14 epochs scored lower in about the same time; at 64 px with
    # softmax (the earlier profile) it took 9 minutes for 0.9485. docs/BENCHMARKS.md.
    "data": {"source": "demo", "name": "synthetic faces (demo)", "image_size": 54, "crop_size": 48,
             "validation_fraction": 0.0, "decoded_cache": True},
    "model": {"backbone": "mobilenet_v1", "embedding_size": 128, "width": 0.5, "dropout_keep": 1.0,
              "bn_momentum": 0.1},
    "loss": {"name": "cosface", "scale": 30.0, "margin": 0.35},
    "eval": {"image_size": 48, "crop_size": 48, "batch_size": 200, "folds": "file", "num_workers": 0},
    # One process: the cache makes loading nearly free. channels_last: 1.45x at 48 px on the CPU.
    "train": {"seed": 0, "epochs": 12, "steps_per_epoch": 0, "batch_size": 64, "num_workers": 0,
              "eval_every_epochs": 0, "checkpoint_every": 0, "log_every": 50,
              "fps_warmup_steps": 10, "compute_fps_steps": 20, "channels_last": True},
    # lr 0.01 probed against 0.004-0.02 and softmax at 0.002-0.008 (docs/BENCHMARKS.md).
    "optimizer": {"name": "adamw", "lr": 0.01, "eps": 1e-8, "weight_decay": 5e-4},
    "schedule": {"name": "cosine", "milestones": {}, "warmup_epochs": 0.0, "min_lr": 0.0},
})

LFW_UNRESTRICTED = _variant(CASIA, {
    # Sized for 2 CPU cores in under 30 minutes, on an AVX2-only CPU too: a MobileNetV1
    # (width 0.75) at 72 px with a CosFace margin. Only the 1,499 people with two or more
    # images train (7,809 images): a one-image person is a class the loss can only memorize.
    # The aligned 160 px faces are decoded once at 76 px (the scale of a 152 px window shown
    # at 72), so training crops 72 of 76 and evaluation scores the centre 152 of 160 at 72:
    # the same geometry. Scale and rotation jitter and weight decay 0.05 slow memorizing.
    # Fold 10, 2 threads on an AVX2 EPYC: 0.860 in 25.6 min at 186 img/s (96 px trains at
    # 130 img/s there and reached 0.827 in the same time); untrained 0.658. docs/BENCHMARKS.md.
    "data": {"source": "lfw-unrestricted", "name": "LFW", "image_size": 76, "crop_size": 72,
             "train_size": 0, "validation_fraction": 0.0, "min_images_per_identity": 2,
             "brightness": 0.2, "contrast": 0.2, "scale_jitter": 0.15, "rotate_degrees": 15.0,
             "decoded_cache": True},
    "model": {"backbone": "mobilenet_v1", "embedding_size": 128, "width": 0.75, "dropout_keep": 1.0,
              "bn_momentum": 0.1},
    "loss": {"name": "cosface", "scale": 30.0, "margin": 0.35},
    "eval": {"image_size": 72, "crop_size": 152, "batch_size": 200, "folds": "interleaved",
             "num_workers": 0},
    # One process: on 2 cores, loader workers stall the 2 compute threads; the decoded
    # cache makes loading in the main process nearly free. channels_last: 1.4x on the
    # AVX-512 CPU, 1.2x on the AVX2 one (fp32; bf16 autocast and torch.compile are slower).
    "train": {"seed": 0, "epochs": 36, "steps_per_epoch": 0, "batch_size": 64, "num_workers": 0,
              "eval_every_epochs": 0, "checkpoint_every": 1000, "log_every": 50, "channels_last": True},
    # Probed on fold 10 after 500 steps at a constant rate: CosFace lr 0.01 0.693, lr 0.03
    # 0.675, lr 0.002 (2000 steps) 0.533; softmax lr 0.002 0.592; untrained 0.662.
    "optimizer": {"name": "adamw", "lr": 0.01, "eps": 1e-8, "weight_decay": 0.05},
    "schedule": {"name": "cosine", "milestones": {}, "warmup_epochs": 2.0, "min_lr": 0.0},
})

PROFILES = {"casia": CASIA, "demo": DEMO, "lfw-unrestricted": LFW_UNRESTRICTED}
