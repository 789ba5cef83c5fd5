"""The data order of a run: batches of sample indices, pass after pass, from any global step.

The order is a pure function of (seed, pass): a run resumed at step ``s`` reads the same
batches an uninterrupted run reads there, and the resident-data path (modelzoo/train/resident.py)
iterates the same batches as the DataLoader.
"""

from __future__ import annotations

import itertools

from torch.utils.data import BatchSampler, Sampler

from modelzoo.contract.api import UserError


class EpochBatches:
    """A plain sampler cut into fixed-size batches, with ``set_epoch`` passed through."""

    def __init__(self, sampler: Sampler, batch_size: int):
        self.sampler = sampler
        self.batches = BatchSampler(sampler, batch_size, drop_last=True)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class BatchStream(Sampler):
    """Endless batches: pass after pass over the data, starting at a given global step.

    Pass ``p`` uses ``set_epoch(p)``, so the order depends only on the seed and the pass;
    resuming at step ``s`` skips to the same batch without loading the ones before it.
    """

    def __init__(self, batches, start_step: int):
        self.batches = batches
        self.start_step = start_step
        self.per_pass = len(batches)
        if self.per_pass == 0:
            raise UserError("the training set holds fewer samples than one batch per card; "
                            "lower train.batch_size or add data")

    def __iter__(self):
        pass_index, offset = divmod(self.start_step, self.per_pass)
        while True:
            if hasattr(self.batches, "set_epoch"):
                self.batches.set_epoch(pass_index)
            yield from itertools.islice(iter(self.batches), offset, None)
            pass_index, offset = pass_index + 1, 0
