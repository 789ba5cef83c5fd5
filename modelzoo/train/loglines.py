"""The text of the training log's lines: progress with ETA, metrics, FPS figures."""

from __future__ import annotations

from typing import Optional


def progress_text(step: int, start_step: int, total_steps: int, epoch: int, loss: float, fps: Optional[float],
                  unit: str, elapsed_s: float) -> str:
    """``step 50/1500 epoch 1 loss 4.1234 812.3 img/s ETA 0:01:47`` (ETA from the steps of this process)."""
    done = step - start_step
    eta = elapsed_s / done * (total_steps - step) if done else None
    clock = "--:--" if eta is None else f"{int(eta) // 3600:d}:{int(eta) % 3600 // 60:02d}:{int(eta) % 60:02d}"
    rate = f"{fps:.1f} {unit}" if fps else "warming up"
    return f"step {step}/{total_steps} epoch {epoch} loss {loss:.4f} {rate} ETA {clock}"


def short_unit(record: Optional[dict]) -> str:
    unit = (record or {}).get("throughput_unit") or "images/s"
    return {"images/s": "img/s"}.get(unit, unit)


def metrics_text(metrics: dict) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))


def two_decimals(value) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) else "n/a"
