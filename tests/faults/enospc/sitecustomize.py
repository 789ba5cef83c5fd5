"""A full disk, injected where no small tmpfs can be mounted (the fault suite's fallback).

With ``MODELZOO_FAULT_ENOSPC`` naming files (``checkpoint.pt``, ``record.json``, ``.lock``),
``os.replace`` onto one of them fails with ENOSPC, as the final step of an atomic write on
a full disk does; ``.lock`` makes ``os.pwrite`` (the run lock's owner line) fail too.
"""

import errno
import os

_NAMES = set(filter(None, os.environ.get("MODELZOO_FAULT_ENOSPC", "").split(",")))


def _full(path) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


if _NAMES:
    _replace, _pwrite = os.replace, os.pwrite

    def _failing_replace(src, dst, *args, **kwargs):
        if os.path.basename(os.fspath(dst)) in _NAMES:
            raise _full(dst)
        return _replace(src, dst, *args, **kwargs)

    def _failing_pwrite(fd, data, offset):
        if ".lock" in _NAMES:
            raise _full(f"fd {fd}")
        return _pwrite(fd, data, offset)

    os.replace, os.pwrite = _failing_replace, _failing_pwrite
