"""Write a profile's freshly initialized (untrained) facenet network as a weights file.

    python bench/untrained_weights.py --profile lfw-unrestricted [--set k=v ...] --output /tmp/untrained.pt
    modelzoo eval facenet --profile lfw-unrestricted [--set k=v ...] --weights /tmp/untrained.pt --data-root DATA

The score of random weights, measured exactly like a trained model's, is the baseline
that a trained model's accuracy is read against.
"""

from __future__ import annotations

import argparse

import benchpath  # noqa: F401  (puts the checkout and plugins/facenet on sys.path)
import torch

from modelzoo.contract.plugins import PluginInfo, load_registry
from modelzoo.zoo.zoofile import apply_sets, find_zoo_file, load_zoo, resolve_profile
from modelzoo_facenet import plugin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="lfw-unrestricted")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="the same overrides the trained run used, e.g. --set model.width=0.75")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    registry = load_registry(extra_plugins=[(plugin, PluginInfo("modelzoo-facenet", "bench"))], autoload=False)
    _, config = resolve_profile(registry.model("facenet"), load_zoo(find_zoo_file()), args.profile)
    apply_sets(config, args.sets)
    torch.manual_seed(args.seed)
    network = plugin.build_network(config)
    torch.save({"model": network.state_dict()}, args.output)
    print(f"wrote the untrained {config['model']['backbone']} of profile {args.profile} "
          f"(seed {args.seed}) to {args.output}")


if __name__ == "__main__":
    main()
