"""bench/: the plain port, ours-vs-plain training FPS, and the device ceilings, at toy sizes on the CPU."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "bench"), str(REPO / "plugins" / "facenet"), str(REPO)]

import ceilings  # noqa: E402
import plain_port  # noqa: E402
import train_bench  # noqa: E402

SMALL = 84  # Inception-ResNet-v1 needs about 75 px; 75 of 84 keeps the test in seconds


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the subprocesses too: the machine is shared
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _image_folders(root: Path, identities: int = 2, per_identity: int = 4) -> Path:
    generator = torch.Generator().manual_seed(0)
    for k in range(identities):
        (root / f"id{k}").mkdir(parents=True)
        for n in range(per_identity):
            pixels = torch.randint(0, 256, (SMALL, SMALL, 3), generator=generator, dtype=torch.uint8)
            Image.fromarray(pixels.numpy()).save(root / f"id{k}" / f"{n}.png")
    return root


def test_plain_port_trains_and_times_the_recipe_model(tmp_path):
    images = _image_folders(tmp_path / "faces")
    result = plain_port.run_plain(str(images), "cpu", batch_size=4, crop=75, steps=2, warmup=1, num_workers=0)
    assert result["images"] == 8 and result["identities"] == 2 and result["timed_steps"] == 2
    assert result["fps"] > 0 and math.isfinite(result["fps"])
    assert result["fps"] == pytest.approx(4 * 2 / result["seconds"], rel=0.01)
    assert result["compute_fps"] > 0 and result["compute_steps"] == 2
    assert math.isfinite(result["last_loss"])

    only = plain_port.run_plain(str(images), "cpu", batch_size=4, crop=75, steps=1, warmup=1, num_workers=0,
                                compute_only=True)
    assert only["fps"] is None and only["compute_fps"] > 0
    with pytest.raises(ValueError, match="fewer than one batch"):
        plain_port.run_plain(str(images), "cpu", batch_size=16, crop=75, steps=1, warmup=1, num_workers=0)


def test_plain_port_does_the_same_work_per_image_as_the_plugin():
    """Same network and loss module (classifier included), parameter for parameter."""
    from modelzoo_facenet.losses import build_loss
    from modelzoo_facenet.plugin import build_network
    from modelzoo_facenet.profiles import CASIA

    network, loss, optimizer = plain_port.build_model(num_classes=7, device=torch.device("cpu"))
    ours_network = build_network(CASIA)
    ours_loss = build_loss("softmax", CASIA["model"]["embedding_size"], 7,
                           prelogits_norm_factor=CASIA["loss"]["prelogits_norm_factor"],
                           prelogits_norm_p=CASIA["loss"]["prelogits_norm_p"])
    shapes = lambda module: [(name, tuple(p.shape)) for name, p in module.named_parameters()]
    assert shapes(network) == shapes(ours_network) and shapes(loss) == shapes(ours_loss)
    assert type(loss) is type(ours_loss) and loss.prelogits_norm_factor == 5e-4
    assert network.dropout.p == pytest.approx(0.2) and network.last_bn.eps == 1e-3
    group = optimizer.param_groups[0]
    assert (type(optimizer), group["lr"], group["eps"], group["weight_decay"]) == (torch.optim.Adam, 0.05, 0.1, 5e-4)


def test_plain_port_command_line_rejects_a_missing_folder(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        plain_port.main([str(tmp_path / "missing")])
    assert exit_info.value.code == 2
    assert "is not a directory" in capsys.readouterr().err


def test_train_bench_quick_measures_ours_and_plain_and_reports_a_broken_variant(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = train_bench.main(["--quick", "--work", str(tmp_path / "work"), "--json", str(out),
                             "--variant", "cl:train.channels_last=true", "--variant", "broken:train.no_such_key=1"])
    printed = capsys.readouterr()
    assert code == 1, printed.err  # the broken variant fails; the rest is still measured
    report = json.loads(out.read_text())
    plain = report["plain"]
    assert len(plain["fps"]) == 1 and plain["fps"][0] > 0 and plain["compute_fps"][0] > 0
    assert plain["runs"][0]["batch"] == 4 and plain["runs"][0]["crop"] == 75

    cl, broken = report["variants"]
    assert cl["name"] == "cl" and cl["sets"] == ["train.channels_last=true"] and not cl["errors"]
    assert cl["fps"][0] > 0 and cl["compute_fps"][0] > 0
    assert cl["ratio_fps"] == pytest.approx(cl["fps_median"] / plain["fps_median"])
    assert cl["ratio_compute"] == pytest.approx(cl["compute_fps_median"] / plain["compute_fps_median"])
    run = cl["runs"][0]
    record = json.loads(next((tmp_path / "work" / "runs").glob(f"*/{run['run_id']}/record.json")).read_text())
    assert record["status"] == "success" and record["config"]["train"]["channels_last"] is True
    assert record["config"]["train"]["batch_size"] == 4 and record["config"]["data"]["crop_size"] == 75
    assert record["metrics"]["timed_steps"] == 2 and record["metrics"]["fps"] == cl["fps"][0]

    assert broken["fps"] == [None] and "no_such_key: unknown key" in broken["errors"][0]
    assert broken["ratio_fps"] is None
    assert "| cl | " in printed.out and "| broken (1 failed) |" in printed.out
    assert "failed: broken" in printed.err


@pytest.mark.parametrize("argv, message", [
    (["--variant", "no-colon"], "expected NAME:KEY=VALUE"),
    (["--variant", "a:train.amp"], "is not KEY=VALUE"),
    (["--images-dir", "/nonexistent/faces"], "is not a directory"),
])
def test_train_bench_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    assert train_bench.main(["--quick", "--work", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def _hand_counted_forward_flops(crop: int) -> float:
    """2 x multiply-adds of every convolution and linear layer, from their output shapes."""
    from modelzoo_facenet.inception_resnet_v1 import InceptionResnetV1

    with torch.device("meta"):
        network = InceptionResnetV1().eval()
    total = 0.0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            kh, kw = module.kernel_size
            total += 2.0 * output.numel() * module.in_channels // module.groups * kh * kw
        elif isinstance(module, torch.nn.Linear):
            total += 2.0 * output.numel() * module.in_features

    for module in network.modules():
        module.register_forward_hook(count)
    network(torch.zeros(1, 3, crop, crop, device="meta"))
    return total


def test_ceilings_quick_reports_positive_peaks_and_the_flop_count(tmp_path):
    out = tmp_path / "ceilings.json"
    assert ceilings.main(["--quick", "--device", "cpu", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    fp32 = next(row for row in report["matmul"] if row["precision"] == "fp32")
    assert fp32["tflops"] > 0 and len(fp32["tflops_all"]) == 3
    assert report["copy"][0]["gbps"] > 0

    flops = report["flops"]
    # docs/BENCHMARKS.md ("Work per image"): 2.835 GFLOP forward per image at 160 px.
    assert 2.5 < flops["forward_gflop"] < 3.5
    assert flops["forward_gflop"] == pytest.approx(_hand_counted_forward_flops(160) / 1e9, rel=0.01)
    assert flops["train_3x_forward_gflop"] == pytest.approx(3 * flops["forward_gflop"])
    assert flops["train_counted_gflop"] == pytest.approx(flops["train_3x_forward_gflop"], rel=0.10)
    assert report["fps_ceiling"]["fp32"] == pytest.approx(fp32["tflops"] * 1e3 / flops["train_3x_forward_gflop"])


def test_ceilings_refuses_cuda_without_a_card(capsys):
    if torch.cuda.is_available():
        pytest.skip("a CUDA card is visible")
    with pytest.raises(SystemExit) as exit_info:
        ceilings.main(["--device", "cuda"])
    assert exit_info.value.code == 2 and "no CUDA card" in capsys.readouterr().err
