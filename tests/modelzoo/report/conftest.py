"""Run records for the report tests, built as the runner builds them (``new_record``).

Three models, one per table shape: ``facenet`` (the ``metrics`` layout, images/s, a ROC
curve declared in ``curve_specs``), ``resnet50`` (the ``configs`` layout: FP32 and
AMP+NHWC columns) and ``lm`` (tokens/s, a lower-is-better metric).
"""

from __future__ import annotations

import math

import pytest

from modelzoo.store.records import new_record

FACENET_COLUMNS = [{"key": "lfw_accuracy", "title": "LFW_Accuracy", "format": "{:.5f}",
                    "std_key": "lfw_accuracy_std", "higher_is_better": True}]
FACENET_CURVES = [{"name": "roc", "x": "fpr", "y": "tpr", "title": "ROC", "x_label": "false positive rate",
                   "y_label": "true positive rate", "caption_metric": "auc"}]
RESNET_COLUMNS = [{"key": "acc1", "title": "Acc@1", "format": "{:.2f}", "higher_is_better": True},
                  {"key": "acc5", "title": "Acc@5", "format": "{:.2f}", "higher_is_better": True}]
RESNET_TABLE = {"layout": "configs",
                "configs": [{"title": "FP32", "match": {"train.amp": ["none"]}},
                            {"title": "AMP+NHWC", "match": {"train.amp": ["bf16", "fp16"],
                                                            "train.channels_last": [True]}}]}
LM_COLUMNS = [{"key": "perplexity", "title": "Perplexity", "format": "{:.2f}", "higher_is_better": False}]

BI_V100_ENV = {"host": "zoo01", "cpu": "Intel Xeon Gold 6330", "cpu_count": 56, "ram_gb": 503.0,
               "gpu": "Iluvatar BI-V100", "gpu_count": 8, "gpu_mem_gb": 32.0, "driver": "3.1.0",
               "cuda": "10.2", "sdk": "IXUCA SDK 3.1.0", "release": "23.09", "torch": "1.13.1",
               "python": "3.10.12", "platform": "Linux-5.4.0-x86_64", "git_commit": "6ad48ec",
               "git_dirty": False}
H100_ENV = {"host": "dgx01", "cpu": "AMD EPYC 9454", "cpu_count": 96, "ram_gb": 2015.0,
            "gpu": "NVIDIA H100 80GB HBM3", "gpu_count": 8, "gpu_mem_gb": 79.6,
            "driver": "550.54.15", "cuda": "12.4", "sdk": None, "torch": "2.5.1",
            "python": "3.11.9", "platform": "Linux-6.5.0-x86_64", "git_commit": "d5de4fb",
            "git_dirty": True}
# the torch wheel was built for CUDA 13.0, but this machine has no card: the run used the CPU
CPU_ENV = {"host": "laptop", "cpu": "AMD Ryzen 7 7840U", "cpu_count": 2, "ram_gb": 16.0,
           "gpu": None, "gpu_count": 0, "gpu_mem_gb": None, "driver": None, "cuda": "13.0",
           "sdk": None, "torch": "2.14.1", "python": "3.11.2", "platform": "Linux",
           "git_commit": "d5de4fb", "git_dirty": False}

REFERENCES = {
    "facenet": [{"gpu": "BI-V100", "cards": 1, "sdk": "IXUCA SDK 3.1.0", "release": "23.09", "fps": 216.96,
                 "metrics": {"lfw_accuracy": 0.989, "lfw_accuracy_std": 0.00642},
                 "source": "DeepSpark zoo README"}],
    # the ResNet-50 README's first row: one reference per config column
    "resnet50": [{"gpu": "BI-V100", "cards": 1, "sdk": "IXUCA SDK 2.2.0", "release": "22.09", "fps": 330,
                  "metrics": {"acc1": 76.02}, "config": {"train.amp": "none"}, "time": "4d3h",
                  "batch_size": 280, "source": "zoo README"},
                 {"gpu": "BI-V100", "cards": 1, "sdk": "IXUCA SDK 2.2.0", "release": "22.09", "fps": 550,
                  "metrics": {"acc1": 75.56}, "config": {"train": {"amp": "bf16", "channels_last": True}},
                  "time": "2d13h", "batch_size": 300, "source": "zoo README"}],
}


def _roc(points: int = 50) -> dict:
    fpr = [i / (points - 1) for i in range(points)]
    return {"fpr": fpr, "tpr": [min(1.0, math.sqrt(x) * 1.02) for x in fpr]}


def timing_of(fps, samples_per_step: int, timed_steps: int = 100) -> dict:
    """The timing fields a record's FPS must agree with (a window that took FPS's time)."""
    seconds = timed_steps * samples_per_step / fps if isinstance(fps, (int, float)) and 0 < fps < float("inf") else 1.0
    return {"timed_steps": timed_steps, "timed_seconds": seconds, "steps": 2 * timed_steps,
            "images_seen": 2 * timed_steps * samples_per_step}


def build_record(run_id: str, *, cards: int = 1, env: dict | None = None, device: str = "cuda",
                 status: str = "success", fps: float | None = 216.96, compute_fps: float | None = None,
                 accuracy: tuple[float, float] | None = (0.989, 0.00642), data_kind: str = "real",
                 protocol: str | None = None, kind: str = "train", started: str = "2026-01-01T00:00:00+00:00",
                 error: str | None = None, config: dict | None = None, curves: bool = True,
                 profile: str = "zoo", model: str = "facenet", title: str = "Facenet",
                 columns: list | None = None, curve_specs: list | None = None, unit: str | None = "images/s",
                 metrics: dict | None = None, duration_s: float = 10800.0, **fields) -> dict:
    """A finished facenet run by default; ``metrics`` replaces the model metrics and
    ``fields`` sets any other record field (warnings, resources, target, release...)."""
    record = new_record(run_id=run_id, kind=kind, model=model, model_title=title,
                        plugin={"name": f"modelzoo-{model}", "version": "0.1.0"}, profile=profile,
                        config=config or {"train": {"batch_size": 90, "epochs": 91, "amp": "none"},
                                          "optimizer": {"name": "adam", "eps": 0.1}},
                        overrides={"train.epochs": 91}, cards=cards, world_size=cards,
                        device=device, seed=1, metric_columns=FACENET_COLUMNS if columns is None else columns,
                        log=f"runs/{run_id}/train.log", throughput_unit=unit,
                        curve_specs=FACENET_CURVES if curve_specs is None else curve_specs)
    record["status"] = status
    record["error"] = error
    record["started"] = started
    record["env"] = dict(env if env is not None else BI_V100_ENV)
    data = {"name": "webface_182_44" if data_kind == "real" else "synthetic-faces",
            "kind": data_kind, "path": "/data/webface_182_44", "images": 453453,
            "identities": 10575}
    if protocol:
        data["protocol"] = protocol
    record["data"] = data
    values: dict = {}
    if fps is not None:
        values.update(fps=fps, fps_per_card=fps / cards, step_ms_p50=410.2, step_ms_p90=455.9,
                      **timing_of(fps, samples_per_step=90 * cards))
    if compute_fps is not None:
        values["compute_fps"] = compute_fps
    if metrics is not None:
        values.update(metrics)
    elif accuracy is not None:
        values.update(lfw_accuracy=accuracy[0], lfw_accuracy_std=accuracy[1],
                      **{"val_far_1e-3": 0.912, "auc": 0.998, "eer": 0.012})
    record["metrics"] = values
    if curves and status == "success":
        steps = list(range(0, 200, 10))
        record["curves"] = {
            "throughput": {"step": steps, "fps": [(fps or 100) * (0.6 if s == 0 else 1.0)
                                                  + (s % 30) * 0.1 for s in steps]},
            "loss": {"step": steps, "loss": [8.0 / (1 + s / 50) for s in steps]},
        }
        if model == "facenet":
            record["curves"]["roc"] = _roc()
    record["finished"] = started.replace("T00", "T03")
    record["duration_s"] = duration_s
    record.update(fields)
    return record


def build_resnet_record(run_id: str, *, amp: bool = False, acc1: float | None = 76.02, fps: float = 330.0,
                        batch_size: int = 280, duration_s: float = 4 * 86400 + 3 * 3600, **kwargs) -> dict:
    """A ResNet-50 run (configs layout): ``amp`` picks the AMP+NHWC column, else FP32."""
    config = {"train": {"batch_size": batch_size, "epochs": 90, "amp": "bf16" if amp else "none",
                        "channels_last": amp}}
    metrics = {} if acc1 is None else {"acc1": acc1, "acc5": 92.9}
    kwargs.setdefault("env", dict(BI_V100_ENV, gpu="BI-V100", sdk="IXUCA SDK 2.2.0", release="22.09"))
    return build_record(run_id, model="resnet50", title="ResNet50", columns=RESNET_COLUMNS, curve_specs=[],
                        config=config, metrics=metrics, fps=fps, duration_s=duration_s,
                        result_table=RESNET_TABLE, **kwargs)


def build_lm_record(run_id: str, *, fps: float = 51234.5, perplexity: float | None = 12.34, **kwargs) -> dict:
    """A language model measured in tokens/s."""
    kwargs.setdefault("env", dict(H100_ENV))
    kwargs.setdefault("curve_specs", [])
    return build_record(run_id, model="lm", title="TinyLM", columns=LM_COLUMNS, unit="tokens/s", fps=fps,
                        metrics={} if perplexity is None else {"perplexity": perplexity}, **kwargs)


@pytest.fixture
def make_record():
    return build_record


@pytest.fixture
def make_resnet():
    return build_resnet_record


@pytest.fixture
def make_lm():
    return build_lm_record


@pytest.fixture
def references() -> dict:
    return {model: [dict(ref) for ref in refs] for model, refs in REFERENCES.items()}


@pytest.fixture
def envs() -> dict:
    return {"bi_v100": dict(BI_V100_ENV), "h100": dict(H100_ENV), "cpu": dict(CPU_ENV)}


HISTORY_RELEASES = ["24.01", "24.02", "24.03", "24.04", "24.05", "24.06", "24.07", "24.08"]


@pytest.fixture
def history_records() -> list[dict]:
    """Two facenet cells over eight releases, three runs each: the 1-card cell drops 12 % in
    24.04 and again in 24.07; the 8-card cell holds still; one run is not a release run."""
    found = []
    for r, release in enumerate(HISTORY_RELEASES):
        for cards, base in ((1, 210.0), (8, 1600.0)):
            level = base * (0.88 if cards == 1 and r >= 3 else 1.0) * (0.88 if cards == 1 and r >= 6 else 1.0)
            for k in range(3):
                record = build_record(f"{release}-c{cards}-{k}", env=dict(BI_V100_ENV), cards=cards,
                                     fps=level * (1 + 0.004 * ((k + r) % 3 - 1)),
                                     started=f"2026-{r + 1:02d}-01T00:0{k}:00+00:00", release=release)
                record["zoo_cell"] = {"release": release, "model": "facenet", "profile": "zoo", "cards": cards,
                                      "max_steps": None}
                found.append(record)
    found.append(build_record("not-a-release-run", env=dict(BI_V100_ENV), fps=10.0))
    return found
