"""Run records for the report tests, built as the runner builds them (``new_record``)."""

from __future__ import annotations

import math

import pytest

from modelzoo.records import new_record

FACENET_COLUMNS = [{"key": "lfw_accuracy", "title": "LFW_Accuracy", "format": "{:.5f}",
                    "std_key": "lfw_accuracy_std", "higher_is_better": True}]

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
CPU_ENV = {"host": "laptop", "cpu": "AMD Ryzen 7 7840U", "cpu_count": 2, "ram_gb": 16.0,
           "gpu": None, "gpu_count": 0, "gpu_mem_gb": None, "driver": None, "cuda": None,
           "sdk": None, "torch": "2.14.1", "python": "3.11.2", "platform": "Linux",
           "git_commit": "d5de4fb", "git_dirty": False}

REFERENCES = {"facenet": [{"gpu": "BI-V100", "cards": 1, "sdk": "IXUCA SDK 3.1.0",
                           "release": "23.09", "fps": 216.96,
                           "metrics": {"lfw_accuracy": 0.989, "lfw_accuracy_std": 0.00642},
                           "source": "DeepSpark zoo README"}]}


def _roc(points: int = 50) -> dict:
    fpr = [i / (points - 1) for i in range(points)]
    return {"fpr": fpr, "tpr": [min(1.0, math.sqrt(x) * 1.02) for x in fpr]}


def build_record(run_id: str, *, cards: int = 1, env: dict | None = None, device: str = "cuda",
                 status: str = "success", fps: float | None = 216.96, compute_fps: float | None = None,
                 accuracy: tuple[float, float] | None = (0.989, 0.00642), data_kind: str = "real",
                 protocol: str | None = None, kind: str = "train", started: str = "2026-01-01T00:00:00+00:00",
                 error: str | None = None, config: dict | None = None, curves: bool = True) -> dict:
    record = new_record(run_id=run_id, kind=kind, model="facenet", model_title="Facenet",
                        plugin={"name": "modelzoo-facenet", "version": "0.1.0"}, profile="zoo",
                        config=config or {"train": {"batch_size": 90, "epochs": 91},
                                          "optimizer": {"name": "adam", "eps": 0.1}},
                        overrides={"train.epochs": 91}, cards=cards, world_size=cards,
                        device=device, seed=1, metric_columns=FACENET_COLUMNS,
                        log=f"runs/{run_id}/train.log")
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
    metrics: dict = {}
    if fps is not None:
        metrics.update(fps=fps, fps_per_card=fps / cards, step_ms_p50=410.2, step_ms_p90=455.9)
    if compute_fps is not None:
        metrics["compute_fps"] = compute_fps
    if accuracy is not None:
        metrics.update(lfw_accuracy=accuracy[0], lfw_accuracy_std=accuracy[1],
                       **{"val_far_1e-3": 0.912, "auc": 0.998, "eer": 0.012})
    record["metrics"] = metrics
    if curves and status == "success":
        steps = list(range(0, 200, 10))
        record["curves"] = {
            "throughput": {"step": steps, "fps": [(fps or 100) * (0.6 if s == 0 else 1.0)
                                                  + (s % 30) * 0.1 for s in steps]},
            "loss": {"step": steps, "loss": [8.0 / (1 + s / 50) for s in steps]},
            "roc": _roc(),
        }
    record["finished"] = started.replace("T00", "T03")
    record["duration_s"] = 10800.0
    return record


@pytest.fixture
def make_record():
    return build_record


@pytest.fixture
def references() -> dict:
    return {model: [dict(ref) for ref in refs] for model, refs in REFERENCES.items()}


@pytest.fixture
def envs() -> dict:
    return {"bi_v100": dict(BI_V100_ENV), "h100": dict(H100_ENV), "cpu": dict(CPU_ENV)}
