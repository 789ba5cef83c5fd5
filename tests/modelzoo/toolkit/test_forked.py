"""forked.beside: the work runs in a forked child where that is safe and pays, its value comes
back, any failure of the child runs the work inline, and no child outlives the block.

Each fork test runs in a fresh interpreter: pytest's own process may hold other threads
(torch's, from earlier tests), where ``beside`` rightly refuses to fork."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from modelzoo.toolkit import forked

PRELUDE = """
import json, os, sys, time
from modelzoo.toolkit import forked
assert forked.can_fork(), "a fresh interpreter on two cores must be able to fork"
parent = os.getpid()
"""


def _fresh(body: str) -> dict:
    """Run ``body`` after PRELUDE in a new interpreter; the JSON it prints last."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.fail("these tests need two cores (this project's machines have two): beside() forks only then")
    done = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(body)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_work_runs_in_a_child_and_its_value_comes_back():
    out = _fresh("""
        with forked.beside(lambda: {"pid": os.getpid(), "items": [1, 2.5, "x"]}) as result:
            value = result()
        print(json.dumps({"value": value, "parent": parent}))
    """)
    assert out["value"]["items"] == [1, 2.5, "x"] and out["value"]["pid"] != out["parent"]


@pytest.mark.parametrize("failure", ["raise RuntimeError('only in the child')", "os.kill(os.getpid(), 9)",
                                     "return {1, 2}"], ids=["exception", "killed", "not-json"])
def test_a_child_that_fails_has_its_work_run_again_here(failure):
    out = _fresh(f"""
        def work():
            if os.getpid() != parent:
                {failure}
            return os.getpid()
        with forked.beside(work) as result:
            print(json.dumps({{"ran_in": result(), "parent": parent}}))
    """)
    assert out["ran_in"] == out["parent"]


def test_a_bug_in_the_work_raises_the_parents_own_exception():
    out = _fresh("""
        def work():
            raise ValueError("a bug")
        try:
            with forked.beside(work) as result:
                result()
        except ValueError as exc:
            print(json.dumps({"raised": str(exc)}))
    """)
    assert out == {"raised": "a bug"}


def test_leaving_the_block_early_kills_and_reaps_the_child(tmp_path):
    out = _fresh(f"""
        started = {str(tmp_path / "child.pid")!r}
        def work():
            open(started, "w").write(str(os.getpid()))
            time.sleep(60)
        try:
            with forked.beside(work):
                deadline = time.monotonic() + 10
                while not os.path.exists(started) and time.monotonic() < deadline:
                    time.sleep(0.01)
                raise KeyboardInterrupt
        except KeyboardInterrupt:
            pid = int(open(started).read())
            try:
                os.kill(pid, 0)
                print(json.dumps({{"child": "still there"}}))
            except ProcessLookupError:  # killed and reaped: no process, not even a zombie
                print(json.dumps({{"child": "gone"}}))
    """)
    assert out == {"child": "gone"}


def test_with_another_thread_running_the_work_runs_inline():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not forked.can_fork()
        with forked.beside(os.getpid) as result:
            assert result() == os.getpid()
    finally:
        stop.set()
        thread.join()


def test_fork_false_runs_inline():
    with forked.beside(os.getpid, fork=False) as result:
        assert result() == os.getpid()
