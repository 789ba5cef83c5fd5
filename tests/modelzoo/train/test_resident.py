"""Resident data (modelzoo/train/resident.py): the same batches as the loader over the decoded
cache, bit for bit, for the same seed and start step; where the set goes and why."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from modelzoo.contract.api import DataIdentity, TrainData, UserError
from modelzoo.contract.settings import CoreSettings
from modelzoo.toolkit.imagedata import CachedDataset
from modelzoo.train import resident
from modelzoo.train.batches import BatchStream, EpochBatches
from modelzoo.train.resident import ResidentBatches, choose, place
from modelzoo.train.step import to_device

N, H, W, BATCH, SEED = 37, 10, 12, 5, 3


@pytest.fixture
def cached(tmp_path: Path) -> CachedDataset:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "images.npy", rng.integers(0, 256, size=(N, H, W, 3), dtype=np.uint8))
    return CachedDataset(tmp_path / "images.npy", rng.integers(0, 9, size=N).tolist(), 9)


def _stream(dataset, start_step: int, world_size: int = 1, rank: int = 0) -> BatchStream:
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=SEED,
                                 drop_last=True)
    return BatchStream(EpochBatches(sampler, BATCH), start_step)


def _take(iterable, count: int) -> list:
    out = []
    for item in iterable:
        out.append(item)
        if len(out) == count:
            return out
    return out


def _data(dataset, collate_fn=None) -> TrainData:
    return TrainData(dataset=dataset, identity=DataIdentity(name="test", kind="synthetic", path="", images=N, identities=9), collate_fn=collate_fn)


def _need() -> int:
    return N * H * W * 3 + 8 * N


def _assert_same_batches(expected: list, got: list) -> None:
    assert len(got) == len(expected)
    for step, (want, have) in enumerate(zip(expected, got)):
        assert isinstance(have, list) and len(have) == 2, step
        for a, b in zip(want, have):
            assert a.dtype == b.dtype and a.shape == b.shape and a.device == b.device, step
            assert torch.equal(a, b), f"batch {step} differs"


@pytest.mark.parametrize("where", ["host", "pinned"])
@pytest.mark.parametrize("start_step,world_size,rank", [(0, 1, 0), (9, 1, 0), (4, 2, 1)])
def test_batches_equal_the_loaders_across_passes_and_from_a_resume(cached, where, start_step, world_size, rank):
    # 7 batches a pass on one worker, 3 on two: 20 batches cross several pass boundaries,
    # and start step 9 resumes inside the second pass.
    loader = DataLoader(cached, batch_sampler=_stream(cached, start_step, world_size, rank))
    expected = [to_device(batch, torch.device("cpu")) for batch in _take(loader, 20)]
    batches = ResidentBatches.load(cached, "cpu", where)
    got = [to_device(batch, torch.device("cpu"))
           for batch in _take(batches.iter_batches(_stream(cached, start_step, world_size, rank)), 20)]
    _assert_same_batches(expected, got)
    # the loader's order really changes from pass to pass (the test would not see a wrong pass)
    per_pass = len(_stream(cached, 0, world_size, rank).batches)
    assert not torch.equal(expected[0][1], expected[per_pass][1])


@pytest.mark.parametrize("where", ["host", "pinned"])
def test_batches_of_any_length_across_index_chunks(cached, where, monkeypatch):
    monkeypatch.setattr(resident, "INDEX_CHUNK", 3)  # the 8 batches below span three chunks
    order = [[3, 1], [0, 5, 2], [7], [36, 35, 34, 33], [1], [2, 2], [30, 0, 10], [4]]
    expected = list(DataLoader(cached, batch_sampler=order))
    got = list(ResidentBatches.load(cached, "cpu", where).iter_batches(order))
    _assert_same_batches(expected, got)


def test_loader_is_a_drop_in_for_the_dataloader(cached):
    batches = ResidentBatches.load(cached, "cpu", "host")
    loader = batches.loader(_stream(cached, 2))
    first, again = next(iter(loader)), next(iter(loader))  # each iter() starts at the stream's start
    expected = next(iter(DataLoader(cached, batch_sampler=_stream(cached, 2))))
    _assert_same_batches([expected, expected], [first, again])
    assert batches.images.shape == (N, 3, H, W) and batches.images.is_contiguous()
    assert batches.nbytes == _need()


def test_prefetch_thread_ends_with_the_consumer_and_passes_errors_on(cached):
    batches = ResidentBatches.load(cached, "cpu", "pinned")
    iterator = batches.iter_batches(_stream(cached, 0))  # endless
    next(iterator)
    iterator.close()
    assert not [t for t in threading.enumerate() if t.name == "modelzoo-resident-prefetch"]

    def broken():
        yield [0, 1]
        raise RuntimeError("sampler broke")

    stream = batches.iter_batches(broken())
    assert len(next(stream)[1]) == 2
    with pytest.raises(RuntimeError, match="sampler broke"):
        next(stream)


def test_auto_is_resident_when_the_set_fits_and_says_why(cached):
    batches, record = choose("auto", _data(cached), "cpu", host_budget=_need())
    assert batches is not None and batches.where == "host"
    assert record["resident"] is True and record["where"] == "cpu RAM" and record["bytes"] == _need()
    assert record["reason"].startswith("train.resident=auto: the decoded set") and "fits" in record["reason"]


def test_auto_is_not_resident_when_the_budget_is_too_small(cached):
    batches, record = choose("auto", _data(cached), "cpu", host_budget=_need() - 1)
    assert batches is None
    assert record["resident"] is False and record["bytes"] == _need() and "where" not in record
    assert "exceeds the RAM budget" in record["reason"]


def test_default_budget_is_a_share_of_available_ram_per_worker(cached, monkeypatch):
    monkeypatch.setattr(resident, "available_ram_bytes", lambda: 4 * _need())
    one = place(cached, "cpu", workers_on_host=1)  # 50 % of 4x: fits
    four = place(cached, "cpu", workers_on_host=4)  # 50 % of 4x / 4 = half of it: does not
    assert one.where == "host" and one.budget_bytes == 2 * _need()
    assert four.where is None and four.budget_bytes == _need() // 2
    assert "50% of available RAM / 4 worker(s)" in four.reason


def test_on_errors_with_the_reason_when_impossible(cached):
    images = TensorDataset(torch.zeros(8, 3, 4, 4, dtype=torch.uint8), torch.zeros(8, dtype=torch.int64))
    with pytest.raises(UserError, match=r"train.resident=on.*\(TensorDataset\) is not a decoded-image cache"):
        choose("on", _data(images), "cpu")
    with pytest.raises(UserError, match="train.resident=on.*exceeds the RAM budget"):
        choose("on", _data(cached), "cpu", host_budget=10)
    with pytest.raises(UserError, match="collates batches itself"):
        choose("on", _data(cached, collate_fn=lambda items: items), "cpu")
    batches, record = choose("on", _data(cached), "cpu", host_budget=_need())
    assert batches is not None and record["reason"].startswith("train.resident=on:")


def test_off_keeps_the_loader_even_when_it_fits(cached):
    batches, record = choose("off", _data(cached), "cpu", host_budget=10 * _need())
    assert batches is None and record == {"resident": False, "reason": "train.resident=off"}


def test_from_dataset_returns_none_with_the_reason(cached):
    lines = []
    assert ResidentBatches.from_dataset(cached, "cpu", budget_bytes=100, log=lines.append) is None
    assert len(lines) == 1 and "exceeds the RAM budget" in lines[0]
    loaded = ResidentBatches.from_dataset(cached, "cpu", budget_bytes=_need())
    assert loaded is not None and loaded.where == "host"


def test_a_subclass_that_changes_the_items_is_refused(cached):
    class Shifted(CachedDataset):
        def __getitem__(self, i):
            image, label = super().__getitem__(i)
            return image, label + 1

    shifted = Shifted(cached.images_path, cached.labels, 9)
    assert place(shifted, "cpu", host_budget=10 * _need()).where is None


def test_settings_accept_the_modes_and_refuse_others():
    settings = CoreSettings.from_config({})
    assert settings.train.resident == "auto" and settings.train.cuda_graphs is False
    assert CoreSettings.from_config({"train": {"resident": "off", "cuda_graphs": True}}).train.resident == "off"
    # YAML's on/off arrive as booleans (--set train.resident=off): the same modes
    for spelled, mode in ((None, "auto"), (True, "on"), (False, "off"), ("on", "on")):
        assert CoreSettings.from_config({"train": {"resident": spelled}}).train.resident == mode
    with pytest.raises(UserError, match="train.resident 'always' is not supported; use one of auto, on, off"):
        CoreSettings.from_config({"train": {"resident": "always"}})
    with pytest.raises(UserError, match="train.cuda_graphs 'yes'"):
        CoreSettings.from_config({"train": {"cuda_graphs": "yes"}})


# --- On a card (bench/gpu.sh runs these) ----------------------------------------------------

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@needs_cuda
@pytest.mark.parametrize("card_budget,where", [(None, "card"), (0, "pinned")])
def test_card_and_pinned_batches_equal_the_pinned_loaders(cached, card_budget, where):
    device = torch.device("cuda", torch.cuda.current_device())
    batches, record = choose("auto", _data(cached), device, card_budget=card_budget)
    assert batches is not None and batches.where == where, record
    assert record["where"] == resident.WHERE[where].format(device=device)
    loader = DataLoader(cached, batch_sampler=_stream(cached, 9), pin_memory=True)
    expected = [to_device(batch, device) for batch in _take(loader, 20)]
    got = [to_device(batch, device) for batch in _take(batches.iter_batches(_stream(cached, 9)), 20)]
    torch.cuda.synchronize()
    _assert_same_batches(expected, got)
    assert batches.images.device.type == ("cuda" if where == "card" else "cpu")
    if where == "pinned":
        assert batches.images.is_pinned()


@needs_cuda
def test_card_too_small_and_host_too_small_is_not_resident(cached):
    batches, record = choose("auto", _data(cached), "cuda", card_budget=0, host_budget=0)
    assert batches is None and "exceeds both the card budget" in record["reason"]


# --- Through the trainer ---------------------------------------------------------------------

def test_the_trainer_trains_the_same_with_and_without_resident_data(tmp_path, monkeypatch):
    pytest.importorskip("modelzoo_facenet")
    from modelzoo.cli import main
    from modelzoo.store import records

    for key, value in {"MODELZOO_DISABLE_PLUGIN_AUTOLOAD": "1", "MODELZOO_PLUGINS": "modelzoo_facenet.plugin",
                       "MODELZOO_RUNS": str(tmp_path / "runs"), "MODELZOO_CACHE": str(tmp_path / "cache")}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MODELZOO_ZOO", raising=False)
    monkeypatch.chdir(tmp_path)
    small = ["data.demo_train_identities=40", "data.demo_images_per_identity=8", "data.demo_test_identities=60",
             "data.decoded_cache=true", "train.log_every=3", "train.fps_warmup_steps=2", "train.compute_fps_steps=2"]

    def run(mode: str) -> dict:
        before = {r["run_id"] for r in records.load_all("runs")}
        sets = [item for pair in (("--set", s) for s in small + [f"train.resident={mode}"]) for item in pair]
        assert main(["run", "facenet", "--profile", "demo", "--device", "cpu", "--max-steps", "12", *sets]) == 0
        (record,) = [r for r in records.load_all("runs") if r["run_id"] not in before]
        return record

    threads = torch.get_num_threads()
    # One thread for both runs: a run otherwise picks its count from the cores free at its start
    # (and re-checks them), and two counts sum in different orders on a busy machine.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    try:
        loader, on = run("off"), run("on")
    finally:
        torch.set_num_threads(threads)
    assert loader["env"]["resident_data"] == {"resident": False, "reason": "train.resident=off"}
    assert on["env"]["resident_data"]["resident"] is True and on["env"]["resident_data"]["where"] == "cpu RAM"
    # the same batches and the same per-step seeds: the same losses, step for step
    assert on["curves"]["loss"] == loader["curves"]["loss"] and len(on["curves"]["loss"]["loss"]) == 4
    assert on["metrics"]["lfw_accuracy"] == loader["metrics"]["lfw_accuracy"]
    assert on["env"]["cuda_graphs"] == "off"
