"""Peak memory, stability and time to target (issue 14)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from modelzoo.measure import resources
from modelzoo.measure.resources import STABILITY_DESCRIPTION, peak_memory, reset_peak_memory, stability, time_to_target

# --------------------------------------------------------------------------- memory


def test_host_peak_rss_sees_a_large_allocation_and_resets():
    assert reset_peak_memory("cpu") is None  # Linux: /proc/self/clear_refs
    before = peak_memory("cpu")
    assert before["kind"] == "host peak RSS" and before["reserved_gb"] is None and before["reason"]
    block = bytearray(300 * 2**20)  # 300 MiB, touched
    for offset in range(0, len(block), 4096):
        block[offset] = 1
    after = peak_memory("cpu")
    assert after["allocated_gb"] - before["allocated_gb"] > 0.25
    del block
    assert reset_peak_memory("cpu") is None
    assert peak_memory("cpu")["allocated_gb"] < after["allocated_gb"] - 0.25  # the peak started again


def test_ru_maxrss_fallback_says_it_covers_the_process_life(monkeypatch):
    monkeypatch.setattr(resources, "_vm_hwm_bytes", lambda: None)
    out = peak_memory("cpu")
    assert out["allocated_gb"] > 0.01 and out["kind"] == "host peak RSS (process life)"
    assert "cannot be reset" in out["reason"]


def test_cuda_without_a_card_is_none_with_reason():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a card is present: see test_cuda_peak_memory")
    out = peak_memory("cuda")
    assert out["allocated_gb"] is None and out["reserved_gb"] is None
    assert out["reason"] == "CUDA is not available"
    assert reset_peak_memory("cuda") == "CUDA is not available"


def test_cuda_peak_memory():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA card on this machine")
    reset_peak_memory("cuda:0")
    block = torch.empty(256 * 2**20, dtype=torch.uint8, device="cuda:0")
    out = peak_memory("cuda:0")
    del block
    assert out["allocated_gb"] >= 0.25 and out["reserved_gb"] >= out["allocated_gb"]
    assert out["kind"] == "cuda allocator peak" and out["device"] == "cuda:0"


def test_resources_module_does_not_import_torch_at_module_level():
    lines = Path(resources.__file__).read_text().splitlines()
    assert not [line for line in lines if line.startswith(("import torch", "from torch"))]


# --------------------------------------------------------------------------- stability


def test_stability_on_known_numbers():
    out = stability([100.0, 102.0, 98.0, 100.0])
    assert out["n"] == 4 and out["mean"] == 100.0
    assert out["std"] == pytest.approx(math.sqrt(8.0 / 3.0))  # sample std: squares 0+4+4+0 over n - 1
    assert out["cv"] == pytest.approx(math.sqrt(8.0 / 3.0) / 100.0)
    assert (out["min"], out["max"], out["reason"]) == (98.0, 102.0, None)


def test_stability_with_too_few_values():
    assert stability([250.0]) == {"n": 1, "mean": 250.0, "std": None, "min": 250.0, "max": 250.0,
                                  "cv": None, "reason": "one repeat: no spread to measure"}
    assert stability([])["reason"] == "no timed repeats" and stability([])["mean"] is None


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0, 0.0])
def test_stability_refuses_values_that_are_not_an_fps(bad):
    with pytest.raises(ValueError, match="finite and positive"):
        stability([100.0, bad])


def test_stability_description_is_one_line():
    assert "\n" not in STABILITY_DESCRIPTION and "coefficient of variation" in STABILITY_DESCRIPTION


# --------------------------------------------------------------------------- time to target

EVALS = [
    {"epoch": 5, "wall_s": 600.0, "images": 450_000, "lfw_accuracy": 0.91, "loss": 3.1},
    {"epoch": 10, "wall_s": 1200.0, "images": 900_000, "lfw_accuracy": 0.975, "loss": 2.2},
    {"epoch": 15, "wall_s": 1800.0, "images": 1_350_000, "lfw_accuracy": 0.972, "loss": 1.9},
    {"epoch": 20, "wall_s": 2400.0, "images": 1_800_000, "lfw_accuracy": 0.985, "loss": 1.5},
]


def test_time_to_target_higher_is_better_takes_the_first_that_reached():
    out = time_to_target(EVALS, 0.97, higher_is_better=True, metric="lfw_accuracy")
    assert out["reached"] is True
    assert (out["epoch"], out["wall_s"], out["images"]) == (10, 1200.0, 900_000)
    assert out["best"] == 0.985 and out["reason"] is None
    exact = time_to_target(EVALS, 0.975, higher_is_better=True, metric="lfw_accuracy")
    assert exact["epoch"] == 10  # reaching is inclusive


def test_time_to_target_lower_is_better():
    out = time_to_target(EVALS, 2.0, higher_is_better=False, metric="loss")
    assert (out["reached"], out["epoch"], out["wall_s"]) == (True, 15, 1800.0)
    assert out["best"] == 1.5
    # the same target read the wrong way round would be "reached" at once
    assert time_to_target(EVALS, 2.0, higher_is_better=True, metric="loss")["epoch"] == 5


def test_time_to_target_not_reached():
    out = time_to_target(EVALS, 0.99, higher_is_better=True, metric="lfw_accuracy")
    assert out["reached"] is False
    assert (out["wall_s"], out["images"], out["epoch"]) == (None, None, None)
    assert out["best"] == 0.985 and out["evaluations"] == 4
    assert out["reason"] == "lfw_accuracy did not reach 0.99 in 4 evaluations (best 0.985)"
    assert time_to_target([], 0.5, True, "lfw_accuracy")["reason"] == "no evaluations"


def test_time_to_target_skips_evaluations_without_the_metric():
    evals = [{"epoch": 1, "wall_s": 10.0, "images": 100, "acc": None},
             {"epoch": 2, "wall_s": 20.0, "images": 200, "acc": float("nan")},
             {"epoch": 3, "wall_s": 30.0, "images": 300},
             {"epoch": 4, "wall_s": 40.0, "images": 400, "acc": 0.8}]
    out = time_to_target(evals, 0.5, True, "acc")
    assert out["epoch"] == 4 and out["best"] == 0.8
    assert time_to_target(evals[:3], 0.5, True, "acc")["reason"].endswith("(no acc value)")


def test_time_to_target_refuses_evaluations_out_of_order():
    with pytest.raises(ValueError, match="order"):
        time_to_target(list(reversed(EVALS)), 0.97, True, "lfw_accuracy")
    with pytest.raises(ValueError, match="finite"):
        time_to_target(EVALS, float("nan"), True, "lfw_accuracy")
