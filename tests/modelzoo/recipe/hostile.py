"""A training script that misbehaves on purpose (the recipe runner's tests): ``python hostile.py MODE``.

It prints ``step=N loss=X`` lines (modelzoo's key=value form) and, when it finishes well,
``acc1=50.0``. MODE picks the misbehaviour.
"""

import os
import signal
import subprocess
import sys
import time


def steps(count, pause=0.05):
    for step in range(1, count + 1):
        print(f"step={step} loss={1.0 / step:.4f}", flush=True)
        time.sleep(pause)


mode = sys.argv[1]
if mode == "good":
    steps(5)
    print("acc1=50.0")
elif mode == "hang":
    steps(2)
    time.sleep(3600)
elif mode == "exit3":
    steps(3)
    print("RuntimeError: CUDA out of memory (pretend)", file=sys.stderr)
    sys.exit(3)
elif mode == "nometric":
    steps(5)
elif mode == "flood":  # 100 MB of output, then a proper ending
    line = ("x" * 1023 + "\n").encode()
    block = line * 1024
    for _ in range(100):
        sys.stdout.buffer.write(block)
    sys.stdout.flush()
    steps(4, pause=0.01)
    print("acc1=50.0")
elif mode == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    step = 0
    while True:
        step += 1
        print(f"step={step} loss=0.5", flush=True)
        time.sleep(0.05)
elif mode in ("grandchild", "grandchild-setsid"):  # a child left running when the script ends
    extra = "import os; os.setsid(); " if mode == "grandchild-setsid" else ""
    child = subprocess.Popen([sys.executable, "-c", extra + "import time; time.sleep(3600)"])
    with open(sys.argv[2], "w") as handle:
        handle.write(str(child.pid))
    steps(3)
    time.sleep(1.5)  # long enough for modelzoo to see the child
    print("acc1=50.0")
elif mode in ("daemon", "daemon-clean-env"):  # double fork + setsid, keeping the output open
    middle = os.fork()
    if middle == 0:
        os.setsid()
        if os.fork() == 0:
            with open(sys.argv[2], "w") as handle:
                handle.write(str(os.getpid()))
            argv = [sys.executable, "-c", "import time; time.sleep(3600)"]
            os.execve(sys.executable, argv, {} if mode == "daemon-clean-env" else dict(os.environ))
        os._exit(0)
    os.waitpid(middle, 0)
    steps(2, pause=0.01)
    print("acc1=50.0")
elif mode == "chatty-orphan":  # a child that prints forever after the script has ended
    subprocess.Popen([sys.executable, "-c", "import time\nwhile True:\n    print('still here', flush=True)\n"
                      "    time.sleep(0.01)"])
    steps(2, pause=0.01)
    print("acc1=50.0")
elif mode == "non-utf8":
    steps(3)
    sys.stdout.buffer.write(b"\xff\xfe\x80 broken bytes \xc3\x28 step=4 loss=0.25\n")
    sys.stdout.flush()
    print("acc1=50.0")
else:
    sys.exit(f"unknown mode {mode}")
os._exit(0)
