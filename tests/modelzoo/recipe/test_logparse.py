"""The parse presets on lines as the zoo's scripts print them, and modelzoo's outside FPS window."""

from __future__ import annotations

import pytest

from modelzoo.recipe.logparse import CURVE_POINTS, LogParser
from modelzoo.recipe.presets import PRESETS


def _parse(preset: str, lines: list[tuple[float, str]], samples: float = 10, warmup: int = 0) -> LogParser:
    parser = LogParser(PRESETS[preset], keyvalue=preset == "keyvalue", samples_per_iteration=samples, warmup=warmup)
    for t, line in lines:
        parser.feed(line, t)
    return parser


def test_metric_logger_reads_resnet50_train_py():
    # common_utils/metric_logger.py's log_every line with train.py's lr and img/s meters
    line = "Epoch: [0]  [{:4d}/5005]  eta: 1:02:03  lr: 0.1  img/s: {}  loss: 6.9{}  acc1: 0.0  time: 0.8  data: 0.1"
    parser = _parse("metric-logger", [(0.0, line.format(0, 300.0, 1)), (1.0, line.format(10, 320.0, 0)),
                                      (2.0, line.format(20, 340.0, 0)),
                                      (3.0, " * Acc@1 76.020 Acc@5 92.930")], samples=28, warmup=1)
    assert parser.fps == pytest.approx(10 * 28 / 1.0)  # 10 iterations of 28 between arrivals 1 s apart
    assert parser.recipe_fps == pytest.approx(330.0)   # the img/s it printed after warm-up
    assert parser.metrics["acc1"] == 76.02 and parser.metrics["acc5"] == 92.93
    assert parser.metrics["loss"] == 6.9


def test_progress_meter_reads_the_pytorch_imagenet_example():
    line = "Epoch: [{}][{:3d}/100]\tTime  {} ( 0.150)\tData  0.010 ( 0.010)\tLoss 6.9{}e+00 (6.9e+00)\tAcc@1   0.00"
    parser = _parse("progress-meter", [
        (0.0, line.format(0, 10, "0.200", 1)), (2.0, line.format(0, 20, "0.200", 0)),
        (10.0, " *   Acc@1 12.500 Acc@5 50.000"),                       # an evaluation: not timed
        (20.0, line.format(1, 10, "0.100", 0)), (21.0, line.format(1, 20, "0.100", 0))], samples=4)
    # global steps 10, 20 | 110, 120: (10 + 10) iterations x 4 over 2 s + 1 s; the evaluation gap left out
    assert parser.fps == pytest.approx(80 / 3.0)
    assert parser.recipe_fps == pytest.approx(4 / ((0.2 * 2 + 0.1 * 2) / 4))
    assert parser.metrics["acc1"] == 12.5 and parser.last_step == 120


def test_face_tqdm_counts_only_the_training_bar_and_reads_lfw():
    bar = "Epoch 1/100:  {:2d}%|#    | {}/100 [00:0{}<00:45,  2.00it/s, total_loss=1.2, lr=0.001]"
    parser = _parse("face-tqdm", [
        (0.0, "Start Train"), (1.0, bar.format(10, 10, 1)), (2.0, bar.format(20, 20, 2)), (3.0, "Finish Train"),
        (3.5, "Start Validation"), (4.0, bar.format(50, 50, 3)), (5.0, bar.format(90, 90, 4)),  # the val bar
        (6.0, "LFW_Accuracy: 0.97933+-0.00624"), (6.1, "Total Loss: 0.1234")], samples=96)
    assert parser.iterations == 2 and parser.fps == pytest.approx(10 * 96 / 1.0)
    assert parser.recipe_fps == pytest.approx(2.0 * 96)
    assert parser.metrics["lfw_accuracy"] == 0.97933 and parser.metrics["lfw_accuracy_std"] == 0.00624
    assert parser.metrics["loss"] == 0.1234


def test_cosface_reads_its_own_timing_and_lfwacc():
    line = ("2023-06-01 10:00:0{} Train Epoch: 1 [{}/490623 (10%)]{}, Loss: 21.123456, Elapsed time: 35.0000s"
            "(100 iters) Margin: 0.4000, Scale: 30.00")
    parser = _parse("cosface", [(0.0, line.format(0, 51200, 100)), (35.0, line.format(1, 102400, 200)),
                                (40.0, "LFWACC=0.9865 std=0.0043 thd=0.2990")], samples=512)
    assert parser.fps == pytest.approx(100 * 512 / 35.0)
    assert parser.recipe_fps == pytest.approx(100 * 512 / 35.0)
    assert parser.metrics["lfw_accuracy"] == 0.9865 and parser.metrics["lfw_accuracy_std"] == 0.0043


def test_keyvalue_and_json_lines():
    parser = _parse("keyvalue", [(0.0, "step=1 loss=2.0"), (1.0, '{"step": 2, "loss": 1.5, "images_per_s": 99}'),
                                 (2.0, "step=3 loss=1.0"), (3.0, "top1=71.5 note=x")], samples=8)
    assert parser.iterations == 3 and parser.fps == pytest.approx(8.0)
    assert parser.recipe_fps == 99 and parser.metrics["top1"] == 71.5 and parser.metrics["loss"] == 1.0


def test_curves_stay_bounded_under_a_flood_of_lines():
    parser = _parse("keyvalue", [(i * 0.001, f"step={i} loss=1") for i in range(1, 20001)])
    assert len(parser.curve_dict()["loss"]["step"]) <= CURVE_POINTS
    assert parser.iterations == 20000
