"""The power sampler (issue 14) without hardware: injected readers, a fake RAPL tree, the
hand-made ixsmi CSV samples, a fake ``ixsmi`` executable and a fake pynvml module."""

from __future__ import annotations

import itertools
import sys
import threading
import time
import types
from pathlib import Path

import pytest

from modelzoo.measure import power, power_readers
from modelzoo.measure.power import PowerReport, PowerSampler, summarize_card
from modelzoo.measure.power_readers import RaplReader, Reading, SmiCsvReader, open_reader, parse_smi_csv, visible_cards

DATA = Path(__file__).parent / "data"
NOHEADER = DATA / "handmade_smi_power_noheader_nounits.csv"
HEADER = DATA / "handmade_smi_power_header_units.csv"


def _run(sampler: PowerSampler, seconds: float) -> PowerReport:
    sampler.start()
    time.sleep(seconds)
    return sampler.stop()


# --------------------------------------------------------------------------- the arithmetic


def test_trapezoid_energy_average_and_peak_over_uneven_timestamps():
    points = [(0.0, Reading(watts=100.0)), (1.0, Reading(watts=200.0)), (3.0, Reading(watts=200.0))]
    card = summarize_card(0, [points])
    assert card.energy_j == pytest.approx(150.0 + 400.0)  # trapezoids, not mean x time
    assert card.avg_w == pytest.approx(550.0 / 3.0)  # time-weighted, not (100+200+200)/3
    assert card.peak_w == 200.0
    assert card.samples == 3
    assert card.energy_from == "samples"
    assert card.covered_s == pytest.approx(3.0)
    assert card.reason is None


def test_missing_readings_are_skipped_not_counted_as_zero():
    points = [(0.0, Reading(watts=100.0)), (1.0, Reading(reason="ixsmi printed '[N/A]'")),
              (2.0, Reading(watts=100.0))]
    card = summarize_card(3, [points])
    assert card.avg_w == pytest.approx(100.0)
    assert card.energy_j == pytest.approx(200.0)
    assert card.samples == 2
    assert "1 readings missing" in card.reason and "[N/A]" in card.reason


def test_a_card_with_no_readings_is_none_with_the_reason():
    card = summarize_card(6, [[(0.0, Reading(reason="ixsmi printed '[Not Supported]'")),
                               (1.0, Reading(reason="ixsmi printed '[Not Supported]'"))]])
    assert (card.avg_w, card.peak_w, card.energy_j, card.samples) == (None, None, None, 0)
    assert "[Not Supported]" in card.reason


def test_counter_energy_handles_wrap_and_gives_interval_peaks():
    wrap = 100.0
    points = [(0.0, Reading(energy_j=90.0, wrap_j=wrap)),
              (1.0, Reading(energy_j=10.0, wrap_j=wrap)),  # wrapped: +20 J
              (2.0, Reading(energy_j=40.0, wrap_j=wrap))]  # +30 J
    card = summarize_card(0, [points])
    assert card.energy_j == pytest.approx(50.0)
    assert card.avg_w == pytest.approx(25.0)
    assert card.peak_w == pytest.approx(30.0)  # the highest power between two readings
    assert card.energy_from == "counter"


def test_a_counter_that_goes_back_without_a_range_drops_that_interval():
    points = [(0.0, Reading(energy_j=500.0)), (1.0, Reading(energy_j=600.0)),
              (2.0, Reading(energy_j=5.0)), (3.0, Reading(energy_j=55.0))]
    card = summarize_card(0, [points])
    assert card.energy_j == pytest.approx(150.0)
    assert card.covered_s == pytest.approx(2.0)
    assert "went back" in card.reason


def test_counter_wins_over_samples_for_energy_but_peak_is_the_highest_reading():
    points = [(0.0, Reading(watts=300.0, energy_j=1000.0)), (1.0, Reading(watts=100.0, energy_j=1200.0))]
    card = summarize_card(0, [points])
    assert card.energy_j == pytest.approx(200.0)  # the card's own counter, not the trapezoid (200 too, by chance)
    assert card.energy_from == "counter"
    assert card.peak_w == 300.0


def test_stretches_add_up_and_the_gap_between_them_does_not_count():
    first = [(0.0, Reading(watts=100.0)), (1.0, Reading(watts=100.0))]
    second = [(50.0, Reading(watts=300.0)), (51.0, Reading(watts=300.0))]
    card = summarize_card(0, [first, second])
    assert card.energy_j == pytest.approx(400.0)
    assert card.covered_s == pytest.approx(2.0)
    assert card.avg_w == pytest.approx(200.0)


def test_as_dict_job_totals_and_energy_per_1000_images():
    report = PowerReport(source="nvml", cards=[summarize_card(0, [[(0.0, Reading(watts=100.0)), (2.0, Reading(watts=100.0))]]),
                                               summarize_card(1, [[(0.0, Reading(watts=300.0)), (2.0, Reading(watts=500.0))]])],
                         seconds=2.0, hz=4.0)
    out = report.as_dict(images=4000)
    assert out["source"] == "nvml"
    assert out["energy_j"] == pytest.approx(200.0 + 800.0)
    assert out["avg_w"] == pytest.approx((100.0 + 400.0) / 2)  # mean over cards
    assert out["peak_w"] == pytest.approx((100.0 + 500.0) / 2)
    assert out["j_per_1000_images"] == pytest.approx(1000.0 / 4000 * 1000)
    assert out["seconds"] == 2.0 and out["reason"] is None
    assert [c["index"] for c in out["per_card"]] == [0, 1]
    assert set(out["per_card"][0]) >= {"index", "avg_w", "peak_w", "energy_j", "samples"}
    assert report.as_dict(images=None)["j_per_1000_images"] is None


def test_job_energy_is_none_when_a_card_has_none():
    report = PowerReport(source="ixsmi", cards=[summarize_card(0, [[(0.0, Reading(watts=100.0)), (1.0, Reading(watts=100.0))]]),
                                                summarize_card(3, [[(0.0, Reading(reason="ixsmi printed '[N/A]'"))]])],
                         seconds=1.0)
    out = report.as_dict(images=100)
    assert out["energy_j"] is None and out["j_per_1000_images"] is None
    assert "[3]" in out["reason"]
    assert out["avg_w"] == pytest.approx(100.0)  # the cards that have one


def test_combine_reports_of_several_nodes():
    def one(index, watts):
        return PowerReport(source="nvml", seconds=1.0, hz=4.0, sampler_cpu_s=0.01,
                           cards=[summarize_card(index, [[(0.0, Reading(watts=watts)), (1.0, Reading(watts=watts))]])])
    both = PowerReport.combine([one(0, 100.0), None, one(0, 200.0)])
    out = both.as_dict(images=1000)
    assert out["source"] == "nvml" and len(out["per_card"]) == 2
    assert out["energy_j"] == pytest.approx(300.0)
    assert out["sampler_cpu_s"] == pytest.approx(0.02)


# --------------------------------------------------------------------------- the thread


class Constant:
    """A reader of fixed watts per card, counting its calls."""

    def __init__(self, watts: dict):
        self.watts, self.calls = watts, 0
        self.cards = list(watts)

    def __call__(self):
        self.calls += 1
        return {card: Reading(watts=w) for card, w in self.watts.items()}


def test_sampler_thread_averages_and_samples_at_the_rate():
    reader = Constant({0: 100.0, 1: 250.0})
    report = _run(PowerSampler(reader, "test", hz=20), 0.6)
    out = report.as_dict(images=600)
    assert out["source"] == "test" and out["reason"] is None
    first, second = out["per_card"]
    assert first["avg_w"] == pytest.approx(100.0) and second["peak_w"] == pytest.approx(250.0)
    assert 8 <= first["samples"] <= 16  # 20 Hz over 0.6 s: about 13, the first and the last included
    assert first["energy_j"] == pytest.approx(100.0 * first["covered_s"])
    assert first["covered_s"] == pytest.approx(out["seconds"], abs=0.1)
    assert out["energy_j"] == pytest.approx(350.0 * first["covered_s"], rel=1e-6)
    assert out["j_per_1000_images"] == pytest.approx(out["energy_j"] / 600 * 1000)
    assert out["sampler_cpu_s"] is not None and out["sampler_cpu_s"] < 0.5


def test_sampler_prefers_a_counter_and_integrates_it():
    t0 = time.perf_counter()

    def reader():
        now = time.perf_counter()
        return {0: Reading(watts=40.0, energy_j=1e6 + 40.0 * (now - t0))}  # a 40 W card's counter

    card = _run(PowerSampler(reader, "test", hz=20), 0.5).as_dict()["per_card"][0]
    assert card["energy_from"] == "counter"
    assert card["avg_w"] == pytest.approx(40.0, rel=0.02)


def test_sampler_handles_counter_wrap_end_to_end():
    counter = itertools.count()

    def reader():  # +7 J per reading on a counter that wraps at 100 J
        return {0: Reading(energy_j=(next(counter) * 7.0) % 100.0, wrap_j=100.0)}

    card = _run(PowerSampler(reader, "rapl", hz=40), 0.5).as_dict()["per_card"][0]
    assert card["samples"] >= 10  # several wraps (every 15 readings)
    assert card["energy_j"] == pytest.approx(7.0 * (card["samples"] - 1))


def test_failed_readings_are_missing_and_counted():
    calls = itertools.count()

    def reader():
        if next(calls) % 2:
            raise RuntimeError("ixsmi exited 9: device busy")
        return {0: Reading(watts=80.0)}

    out = _run(PowerSampler(reader, "ixsmi", hz=20), 0.4).as_dict()
    assert out["per_card"][0]["avg_w"] == pytest.approx(80.0)
    assert "readings failed (RuntimeError: ixsmi exited 9: device busy)" in out["reason"]


def test_stop_returns_within_a_second_even_at_a_slow_rate():
    reader = Constant({0: 50.0})
    sampler = PowerSampler(reader, "test", hz=0.1).start()  # next reading due in 10 s
    time.sleep(0.2)
    began = time.perf_counter()
    report = sampler.stop()
    assert time.perf_counter() - began < 1.0
    assert reader.calls == 2  # at start and at stop
    assert report.cards[0].avg_w == pytest.approx(50.0)


def test_stop_returns_within_a_second_while_a_reading_hangs():
    release = threading.Event()
    calls = itertools.count()

    def reader():
        if next(calls) >= 1:
            release.wait(5.0)  # a driver tool that hangs
        return {0: Reading(watts=10.0)}

    sampler = PowerSampler(reader, "ixsmi", hz=20, stop_timeout_s=0.5).start()
    time.sleep(0.2)
    began = time.perf_counter()
    report = sampler.stop()
    release.set()
    assert time.perf_counter() - began < 1.0
    assert "still running" in report.reason
    assert sampler.stop() is report  # idempotent


def test_pauses_are_left_out_like_the_meter_does():
    reader = Constant({0: 100.0})
    sampler = PowerSampler(reader, "test", hz=20).start()
    time.sleep(0.3)
    sampler.pause()
    calls = reader.calls
    time.sleep(0.5)  # a checkpoint write
    assert reader.calls == calls  # nothing read while paused
    sampler.resume()
    time.sleep(0.3)
    out = sampler.stop().as_dict()
    assert out["seconds"] == pytest.approx(0.6, abs=0.15)
    assert out["per_card"][0]["covered_s"] < 0.8
    assert out["per_card"][0]["avg_w"] == pytest.approx(100.0)


def test_context_manager_and_no_restart_after_stop():
    with PowerSampler(Constant({0: 5.0}), "test", hz=10) as sampler:
        time.sleep(0.15)
    assert sampler.report is not None and sampler.report.cards[0].avg_w == pytest.approx(5.0)
    with pytest.raises(RuntimeError):
        sampler.start()


def test_rate_must_be_positive():
    with pytest.raises(ValueError):
        PowerSampler(Constant({0: 1.0}), "test", hz=0)


# --------------------------------------------------------------------------- nothing readable


def _no_backends(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    monkeypatch.setattr(power_readers.shutil, "which", lambda name: None)
    monkeypatch.setattr(power_readers, "RAPL_ROOT", tmp_path / "no-powercap")


def test_nothing_readable_is_none_with_reasons_never_zero(monkeypatch, tmp_path):
    _no_backends(monkeypatch, tmp_path)
    sampler = PowerSampler.for_device("cuda")
    out = _run(sampler, 0.05).as_dict(images=1000)
    assert out["source"] is None and out["per_card"] == []
    for key in ("avg_w", "peak_w", "energy_j", "j_per_1000_images"):
        assert out[key] is None
    assert "no NVML: pynvml not installed" in out["reason"]
    assert "no nvidia-smi: not on PATH" in out["reason"]
    cpu = _run(PowerSampler.for_device("cpu"), 0.05).as_dict(images=1000)
    assert cpu["energy_j"] is None and cpu["reason"].startswith("RAPL not present")
    assert PowerSampler.for_device("mps").stop().reason == "no power backend for device 'mps'"


def _rapl_tree(root: Path, packages: dict) -> Path:
    for number, (name, energy_uj, max_uj) in packages.items():
        zone = root / f"intel-rapl:{number}"
        zone.mkdir(parents=True)
        (zone / "name").write_text(name + "\n")
        (zone / "energy_uj").write_text(f"{energy_uj}\n")
        (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
    sub = root / "intel-rapl:0:0"  # the core sub-domain: part of package 0, not another package
    sub.mkdir()
    (sub / "name").write_text("core\n")
    (sub / "energy_uj").write_text("1\n")
    return root


def test_rapl_reads_package_domains_with_their_wrap_range(tmp_path):
    root = _rapl_tree(tmp_path, {0: ("package-0", 5_000_000, 262_143_328_850),
                                 1: ("package-1", 7_000_000, 262_143_328_850),
                                 2: ("psys", 1, 2)})
    reader = RaplReader(root)
    assert reader.cards == [0, 1]
    values = reader()
    assert values[0] == Reading(energy_j=5.0, wrap_j=262_143.32885)
    assert values[1].energy_j == 7.0


def test_rapl_counter_through_the_sampler(tmp_path, monkeypatch):
    root = _rapl_tree(tmp_path, {0: ("package-0", 0, 1_000_000)})
    counter = itertools.count()
    real = power_readers.read_sysfs_text

    def read(path):  # the counter moves 0.3 J per read and wraps at 1 J
        if path.name == "energy_uj":
            return str((next(counter) * 300_000) % 1_000_000)
        return real(path)

    monkeypatch.setattr(power_readers, "read_sysfs_text", read)
    monkeypatch.setattr(power_readers, "RAPL_ROOT", root)
    sampler = PowerSampler.for_device("cpu", hz=40)
    assert sampler.source == "rapl"
    card = _run(sampler, 0.3).as_dict()["per_card"][0]
    assert card["energy_j"] == pytest.approx(0.3 * (card["samples"] - 1))


def test_rapl_permission_denied_is_missing_with_reason(tmp_path, monkeypatch):
    root = _rapl_tree(tmp_path, {0: ("package-0", 5, 10)})
    real = power_readers.read_sysfs_text

    def read(path):  # as for a non-root user on Linux >= 5.10 (the tests may run as root)
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(power_readers, "read_sysfs_text", read)
    monkeypatch.setattr(power_readers, "RAPL_ROOT", root)
    out = _run(PowerSampler.for_device("cpu"), 0.05).as_dict(images=10)
    assert out["source"] is None and out["energy_j"] is None
    assert out["reason"].startswith("RAPL not readable: permission denied")


# --------------------------------------------------------------------------- ixsmi / nvidia-smi CSV


def test_parse_the_noheader_nounits_sample():
    rows = parse_smi_csv(NOHEADER.read_text())
    assert sorted(rows) == list(range(8))
    assert rows[0] == Reading(watts=187.42)
    assert rows[4].watts == 203.9
    assert rows[3].watts is None and rows[3].reason == "ixsmi printed '[N/A]'"
    assert rows[6].watts is None and "[Not Supported]" in rows[6].reason


def test_parse_the_header_and_units_sample():
    rows = parse_smi_csv(HEADER.read_text())
    assert rows == {0: Reading(watts=187.42), 1: Reading(watts=191.07),
                    2: Reading(reason="ixsmi printed '[N/A]'"), 3: Reading(watts=64.35)}


def test_parse_follows_the_header_and_skips_noise():
    text = "WARNING: infoROM is corrupted at gpu 0000:3B:00.0\n\npower.draw [W], index\n55 W, 1\n  61.5W ,0\nnan, 2\n"
    rows = parse_smi_csv(text, tool="nvidia-smi")
    assert rows[1].watts == 55.0 and rows[0].watts == 61.5
    assert rows[2].watts is None and rows[2].reason == "nvidia-smi printed 'nan'"


def test_smi_reader_keeps_the_asked_cards_and_names_the_absent_ones():
    seen = []

    def runner(argv, timeout):
        seen.append((argv, timeout))
        return NOHEADER.read_text()

    reader = SmiCsvReader("ixsmi", cards=[0, 3, 9], runner=runner)
    values = reader()
    assert values[0].watts == 187.42 and values[3].watts is None
    assert values[9].reason == "ixsmi printed no row for card 9"
    assert seen[0][0][1:] == ["--query-gpu=index,power.draw", "--format=csv,noheader,nounits"]
    assert seen[0][1] == power_readers.SMI_TIMEOUT_S
    with pytest.raises(power_readers.BackendUnavailable, match="by index"):
        SmiCsvReader("ixsmi", cards=["GPU-1234"], runner=runner)


@pytest.fixture
def fake_ixsmi(tmp_path, monkeypatch):
    """An ``ixsmi`` on PATH that prints the hand-made sample and logs its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "argv.log"
    tool = bin_dir / "ixsmi"
    tool.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\ncat "{NOHEADER}"\n')
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return log


def test_ixsmi_subprocess_end_to_end(fake_ixsmi, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    sampler = PowerSampler.for_device("cuda", cards=[0, 2, 3], hz=10)
    # on an Iluvatar host, before NVML; a tool that prints once for the loop option and exits
    # is read one query at a time (tests/modelzoo/measure/test_power_readers.py has the loop mode)
    assert sampler.source == "ixsmi query"
    out = _run(sampler, 0.4).as_dict(images=1000)
    cards = {card["index"]: card for card in out["per_card"]}
    assert cards[0]["avg_w"] == pytest.approx(187.42) and cards[2]["peak_w"] == pytest.approx(64.35)
    assert cards[3]["avg_w"] is None and "[N/A]" in cards[3]["reason"]
    assert out["energy_j"] is None and "[3]" in out["reason"]  # a job total needs every card
    assert "tried first: ixsmi loop mode: -lms 250: ixsmi exited 0" in out["reason"]
    calls = fake_ixsmi.read_text().splitlines()
    assert calls[0] == "--query-gpu=index,power.draw --format=csv,noheader,nounits -lms 250"
    assert calls[1] == "--query-gpu=index,power.draw --format=csv,noheader,nounits"


def test_a_failing_tool_is_a_reason(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ixsmi").write_text("#!/bin/sh\necho 'ixsmi: no device found' >&2\nexit 3\n")
    (bin_dir / "ixsmi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setitem(sys.modules, "pynvml", None)
    reader, reason = open_reader("cuda")
    assert reader is None
    assert "ixsmi failed: ixsmi exited 3: ixsmi: no device found" in reason


# --------------------------------------------------------------------------- NVML (a fake pynvml)


def _fake_pynvml(counter_cards=(0,), init_error=None):
    nvml = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    state = {"energy_mj": {0: 10_000_000, 1: 20_000_000}, "shutdown": 0}

    def init():
        if init_error:
            raise NVMLError(init_error)

    def energy(handle):
        if handle not in counter_cards:
            raise NVMLError("Not Supported")
        state["energy_mj"][handle] += 50_000  # 50 J per call
        return state["energy_mj"][handle]

    nvml.NVMLError = NVMLError
    nvml.nvmlInit = init
    nvml.nvmlShutdown = lambda: state.__setitem__("shutdown", state["shutdown"] + 1)
    nvml.nvmlDeviceGetCount = lambda: 2
    nvml.nvmlDeviceGetHandleByIndex = lambda index: index
    nvml.nvmlDeviceGetHandleByUUID = lambda uuid: {b"GPU-aaaa": 0, b"GPU-bbbb": 1}[uuid]
    nvml.nvmlDeviceGetIndex = lambda handle: handle
    nvml.nvmlDeviceGetPowerUsage = lambda handle: [312_500, 95_250][handle]  # mW
    nvml.nvmlDeviceGetTotalEnergyConsumption = energy
    nvml.state = state
    return nvml


def test_nvml_backend_watts_counter_and_fallback(monkeypatch):
    nvml = _fake_pynvml(counter_cards=(0,))
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monkeypatch.setattr(power_readers.shutil, "which", lambda name: None)
    sampler = PowerSampler.for_device("cuda", cards=["GPU-bbbb", 0], hz=20)
    assert sampler.source == "nvml" and sampler.reader.cards == [1, 0]
    values = sampler.reader()
    assert values[0].watts == 312.5 and values[1].watts == 95.25
    assert values[0].energy_j is not None and values[1].energy_j is None  # no counter before Volta
    out = _run(sampler, 0.3).as_dict(images=100)
    cards = {card["index"]: card for card in out["per_card"]}
    assert cards[0]["energy_from"] == "counter" and cards[1]["energy_from"] == "samples"
    assert cards[1]["avg_w"] == pytest.approx(95.25)
    assert cards[0]["energy_j"] == pytest.approx(50.0 * (cards[0]["samples"] - 1))
    assert cards[0]["peak_w"] == 312.5
    assert nvml.state["shutdown"] == 1


def test_nvml_init_failure_is_a_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(init_error="Driver Not Loaded"))
    monkeypatch.setattr(power_readers.shutil, "which", lambda name: None)
    reader, reason = open_reader("cuda")
    assert reader is None and reason.startswith("no NVML: Driver Not Loaded")


def test_visible_cards(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert visible_cards(3) == [0, 1, 2]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    assert visible_cards(2) == [4, 5]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-aaaa, 3")
    assert visible_cards(8) == ["GPU-aaaa", 3]


@pytest.mark.parametrize("module", [power, power_readers])
def test_power_module_does_not_import_torch(module):
    source = Path(module.__file__).read_text()
    assert "import torch" not in source


# --------------------------------------------------------------------------- the time series (curves.power)


class Counting:
    """Card 0 reads 100 + n W and card 1 200 + 2n W at the n-th call: their sum is 300 + 3n."""

    cards = [0, 1]

    def __init__(self):
        self.calls = 0

    def __call__(self):
        n, self.calls = self.calls, self.calls + 1
        return {0: Reading(watts=100.0 + n), 1: Reading(watts=200.0 + 2 * n)}


def _increasing(values: list) -> bool:
    return all(b > a for a, b in zip(values, values[1:]))


def test_the_series_sums_the_cards_reading_by_reading_in_window_seconds():
    reader = Counting()
    report = _run(PowerSampler(reader, "test", hz=20), 0.5)
    curve = report.curve()
    assert set(curve) == {"t", "watts", "devices"} and curve["devices"] == 2
    assert curve["watts"] == [300.0 + 3 * n for n in range(reader.calls)]  # every reading, in order
    assert len(curve["t"]) == reader.calls == report.cards[0].samples
    assert _increasing(curve["t"])
    assert 0.0 <= curve["t"][0] < 0.05 and curve["t"][-1] <= report.seconds + 1e-3
    assert curve["t"][-1] == pytest.approx(report.seconds, abs=0.06)
    assert report.as_dict()["per_card"][0]["peak_w"] == 100.0 + reader.calls - 1  # the summary is as before
    assert "trace" not in report.as_dict()


def test_the_series_leaves_the_pauses_out_like_the_summary():
    sampler = PowerSampler(Counting(), "test", hz=20).start()
    time.sleep(0.3)
    sampler.pause()
    time.sleep(0.5)  # a checkpoint write: not in the window
    sampler.resume()
    time.sleep(0.3)
    report = sampler.stop()
    t = report.curve()["t"]
    assert t == sorted(t) and len(set(t)) == len(t)
    assert t[-1] <= report.seconds + 1e-3 and report.seconds == pytest.approx(0.6, abs=0.15)
    assert max(b - a for a, b in zip(t, t[1:])) < 0.2  # no 0.5 s hole where the pause was


def test_a_counter_only_backend_gives_the_power_between_readings():
    t0 = time.perf_counter()

    def reader():  # a 40 W package's RAPL-like counter, no power reading
        return {0: Reading(energy_j=1e3 + 40.0 * (time.perf_counter() - t0), wrap_j=1e6)}

    report = _run(PowerSampler(reader, "rapl", hz=20), 0.4)
    curve = report.curve()
    assert len(curve["watts"]) == report.cards[0].samples - 1  # one value per interval
    # loose: a 50 ms interval's timestamps jitter by a ms or more on a busy machine
    assert curve["watts"] == pytest.approx([40.0] * len(curve["watts"]), rel=0.25)
    assert _increasing(curve["t"])


def test_card_trace_from_counters_exactly():
    def at(t, joules, wrap=100.0):  # window time = clock time here
        return (t, t, Reading(energy_j=joules, wrap_j=wrap))

    first = [at(0.0, 90.0), at(1.0, 10.0), at(3.0, 50.0, None), at(4.0, 5.0, None)]  # a wrap; a drop without range
    second = [at(10.0, 0.0), at(10.5, 30.0)]
    assert power.card_trace([first, second]) == [(0.5, 20.0), (2.0, 20.0), (10.25, 60.0)]
    powered = [(0.0, 0.0, Reading(watts=5.0, energy_j=1.0)), (1.0, 1.0, Reading(watts=7.0, energy_j=99.0))]
    assert power.card_trace([powered]) == [(0.0, 5.0), (1.0, 7.0)]  # power readings win for the series
    clamped = [(0.0, 0.0, Reading(watts=5.0)), (2.0, 2.0, Reading(watts=6.0)), (2.0, 2.1, Reading(watts=8.0))]
    assert power.card_trace([clamped]) == [(0.0, 5.0), (2.0, 7.0)]  # readings past the stretch's end: one point


def test_the_series_is_downsampled_by_bucket_means():
    trace = [(i * 0.25, 100.0 + (i % 2) * 10) for i in range(10_001)]  # 4 Hz for 2,500 s, alternating 100/110 W
    report = PowerReport(source="nvml", trace=trace, trace_devices=1)
    curve = report.curve()
    assert len(curve["t"]) <= power.CURVE_POINTS and len(curve["t"]) == len(curve["watts"]) >= power.CURVE_POINTS / 2
    assert _increasing(curve["t"])
    # buckets of 6 readings (10,001 / 2,000, rounded up), the last of 5: their mean times
    assert len(curve["t"]) == 1667 and curve["t"][0] == 0.625 and curve["t"][-1] == 2499.5
    assert sum(curve["watts"]) / len(curve["watts"]) == pytest.approx(105.0, abs=0.01)
    small = report.curve(max_points=7)
    assert len(small["t"]) == 7 and _increasing(small["t"])
    assert power.downsample(trace[:5], max_points=10) == trace[:5]


def test_a_long_run_keeps_a_bounded_trace_before_the_nodes_gather_it():
    sampler = PowerSampler(Counting(), "test", hz=200)  # about 100 readings in 0.5 s
    report = _run(sampler, 0.5)
    assert len(report.trace) == sampler.reader.calls  # under CURVE_POINTS: every reading
    curve = report.curve(max_points=10)
    assert len(curve["t"]) <= 10 and _increasing(curve["t"])
    assert curve["watts"][0] < curve["watts"][-1]  # the readings rise, so do their bucket means


def test_cards_at_different_times_are_summed_on_one_grid():
    a = [(0.0, 100.0), (1.0, 100.0), (2.0, 100.0)]
    b = [(0.5, 50.0), (1.5, 70.0), (2.5, 90.0)]
    assert power.sum_traces([a, b]) == [(0.5, 150.0), (1.0, 160.0), (1.5, 170.0), (2.0, 180.0)]
    assert power.sum_traces([a, []]) == a and power.sum_traces([]) == []
    assert power.sum_traces([[(0.0, 1.0)], [(5.0, 1.0)]]) == []  # no common span


def test_combine_sums_the_nodes_series_and_says_who_is_left_out():
    def node(trace, devices, missing=0):
        return PowerReport(source="nvml", seconds=2.0, hz=4.0, trace=trace, trace_devices=devices,
                           trace_missing=missing)

    both = PowerReport.combine([node([(0.0, 800.0), (1.0, 800.0), (2.0, 800.0)], 8),
                                node([(0.1, 700.0), (1.1, 700.0), (2.1, 700.0)], 7, missing=1)])
    curve = both.curve()
    assert curve["t"] == [0.1, 1.0, 1.1, 2.0] and curve["watts"] == [1500.0] * 4
    assert curve["devices"] == 15 and curve["reason"] == "1 of 16 devices had no readings and are not in the sum"


def test_a_card_without_readings_is_left_out_of_the_sum_with_a_reason():
    def reader():
        return {0: Reading(watts=80.0), 3: Reading(reason="ixsmi printed '[N/A]'")}

    curve = _run(PowerSampler(reader, "ixsmi", hz=20), 0.2).curve()
    assert set(curve["watts"]) == {80.0} and curve["devices"] == 1
    assert curve["reason"] == "1 of 2 devices had no readings and are not in the sum"


def test_no_series_without_a_reader_or_readings(monkeypatch, tmp_path):
    _no_backends(monkeypatch, tmp_path)
    assert _run(PowerSampler.for_device("cuda"), 0.05).curve() is None

    def failing():
        raise RuntimeError("ixsmi exited 9")

    report = _run(PowerSampler(failing, "ixsmi", hz=20), 0.1)
    assert report.curve() is None and report.trace_devices == 0
