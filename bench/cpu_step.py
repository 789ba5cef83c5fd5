"""Training-step throughput of a facenet profile's network on the CPU, by input size and width.

Random input, no data loading and no evaluation: the product's step alone, built from the
profile the way ``modelzoo run`` builds it: the plugin's network and loss in
``modelzoo.train.step.TrainStep``, ``modelzoo.train.optim.build_optimizer`` on the typed settings
(``modelzoo.contract.settings.CoreSettings``), and ``modelzoo.train.step.StepRunner`` running it (the
profile's amp with fp16 gradient scaling, gradient clipping, channels_last; forward,
loss, backward, optimizer). ``--nchw`` and ``--compile`` set ``train.channels_last`` and
``train.compile``. The plugin's device transform (crop, flip, jitter) is left out: it
needs the data set, and the random input already has the network's size and layout. It
answers "what does a smaller face or a narrower network buy on this CPU" in a minute,
before a half-hour run.

    python bench/cpu_step.py --profile lfw-unrestricted --sizes 96,80,72,64 --widths 0.75,0.5
    python bench/cpu_step.py --sizes 96 --nchw              # channels_last off
    python bench/cpu_step.py --sizes 96 --compile           # torch.compile the step
    python bench/cpu_step.py --sizes 96 --ops               # torch.profiler table of one run

Each row is one measurement (steps after warm-up, wall clock); a shared machine moves
them by 10-15 %, so read differences below that as noise.
"""

from __future__ import annotations

import argparse
import sys
import time
from types import SimpleNamespace

import benchpath  # noqa: F401  (puts the checkout and plugins/facenet on sys.path)
import torch

from modelzoo.contract.plugins import PluginInfo, load_registry
from modelzoo.contract.settings import CoreSettings, with_core_defaults
from modelzoo.train.optim import build_optimizer
from modelzoo.train.step import StepRunner, TrainStep, compiled, emulated_cpu_amp
from modelzoo.zoo.zoofile import apply_sets, find_zoo_file, load_zoo, resolve_profile
from modelzoo_facenet import plugin


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v]


def core_settings(config: dict, channels_last: bool, compile_step: bool) -> CoreSettings:
    """The run's typed core settings of ``config``, with the bench's layout and compile flags."""
    merged = with_core_defaults(config)
    merged["train"].update(channels_last=channels_last, compile=compile_step)
    return CoreSettings.from_config(merged)


def step_throughput(config: dict, size: int, classes: int, steps: int, warmup: int,
                    channels_last: bool, compile_step: bool, ops: bool) -> float:
    """Images per second of ``steps`` training steps on one random batch of ``size`` px."""
    torch.manual_seed(0)
    settings = core_settings(config, channels_last, compile_step)
    train = settings.train
    device = torch.device("cpu")
    network = plugin.build_network(config)
    loss = plugin.modelzoo_build_loss(context=SimpleNamespace(model=plugin.MODEL, config=config),
                                      data=SimpleNamespace(info={"num_classes": classes}))
    module = TrainStep(network, loss).to(device)
    if train.channels_last:
        module = module.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(settings.optimizer, module, device)
    runner = StepRunner(model=compiled(module, train) if train.compile else module, parameters=module,
                        optimizer=optimizer, device_type=device.type, amp=train.amp,
                        grad_clip=train.grad_clip, channels_last=train.channels_last, transform=None,
                        scaler=torch.amp.GradScaler(device.type) if train.amp == "fp16" else None)
    layout = torch.channels_last if train.channels_last else torch.contiguous_format
    batch = train.batch_size
    # In a run the device transform hands the step its batch in this layout already.
    inputs = torch.randn(batch, 3, size, size).contiguous(memory_format=layout)
    targets = torch.randint(0, classes, (batch,))

    def step() -> None:
        runner(inputs, targets)

    for _ in range(warmup):
        step()
    if ops:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU]) as profiler:
            start = time.perf_counter()
            for _ in range(steps):
                step()
            seconds = time.perf_counter() - start
        print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
    else:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        seconds = time.perf_counter() - start
    return steps * batch / seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="lfw-unrestricted")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--sizes", type=_floats, default=[96, 80, 72, 64], help="input px, comma-separated")
    parser.add_argument("--widths", type=_floats, default=None,
                        help="model.width values (default: the profile's)")
    parser.add_argument("--classes", type=int, default=1499, help="classes of the loss (default 1499)")
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--threads", default=None,
                        help="torch threads, or 'auto' for the trainer's choice (default: torch's)")
    parser.add_argument("--nchw", action="store_true", help="channels_last off")
    parser.add_argument("--compile", action="store_true", help="torch.compile the step")
    parser.add_argument("--ops", action="store_true", help="print a torch.profiler table per row")
    args = parser.parse_args(argv)
    if args.threads == "auto":  # what `modelzoo run` does on the CPU: one thread per free core
        from modelzoo.train.distributed import share_cpu_threads, threads_chosen_by
        share_cpu_threads(1)
        print(f"threads: {threads_chosen_by()}")
    elif args.threads:
        torch.set_num_threads(int(args.threads))
    registry = load_registry(extra_plugins=[(plugin, PluginInfo("modelzoo-facenet", "bench"))], autoload=False)
    _, config = resolve_profile(registry.model("facenet"), load_zoo(find_zoo_file()), args.profile)
    apply_sets(config, args.sets)
    widths = args.widths or [config["model"]["width"]]
    amp = core_settings(config, not args.nchw, args.compile).train.amp
    print(f"profile {args.profile}, {config['model']['backbone']}, batch {config['train']['batch_size']}, "
          f"{torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()}, "
          f"{'NCHW' if args.nchw else 'channels_last'}{', compiled' if args.compile else ''}"
          f"{'' if amp == 'none' else ', amp ' + amp}")
    slow_amp = emulated_cpu_amp("cpu", amp)
    if slow_amp:
        print(f"warning: {slow_amp}", file=sys.stderr)
    for width in widths:
        config["model"]["width"] = width
        for size in args.sizes:
            rate = step_throughput(config, int(size), args.classes, args.steps, args.warmup,
                                   not args.nchw, args.compile, args.ops)
            print(f"width {width:g} at {int(size)} px: {rate:.0f} img/s", flush=True)


if __name__ == "__main__":
    main()
