"""Time of the LFW 10-fold protocol (modelzoo_facenet.lfw.evaluate) on 6000 random pairs.

    PYTHONPATH=.:plugins/facenet python bench/lfw_protocol_bench.py [--dim 512] [--repeat 5]

Prints, per distance and mean subtraction, the best and median wall time of evaluate()
(accuracy over 400 thresholds, ROC, VAL@FAR over 4000 thresholds, AUC, EER). The
embeddings are random unit vectors with same-person pairs made closer, in pairs.txt's
layout (per fold 300 same then 300 different pairs).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from modelzoo_facenet import lfw


def make_pairs(dim: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    issame = np.tile(np.repeat([True, False], 300), 10)
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    e1 = unit(rng.normal(size=(6000, dim)))
    # Same pairs: e1 plus noise of 12x its norm (accuracy 0.8-0.9); different pairs:
    # independent.
    noise = 12 * rng.normal(size=(6000, dim)) / np.sqrt(dim)
    e2 = np.where(issame[:, None], unit(e1 + noise), unit(rng.normal(size=(6000, dim))))
    return e1.astype(np.float32), e2.astype(np.float32), issame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=512, help="embedding size (1024 = 512 flipped)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    e1, e2, issame = make_pairs(args.dim)
    print(f"LFW protocol on 6000 pairs, dim {args.dim}, {args.repeat} runs each; "
          f"numpy {np.__version__}, {platform.python_implementation()} "
          f"{platform.python_version()}, {os.cpu_count()} CPUs visible")
    for distance in lfw.DISTANCES:
        for subtract_mean in (False, True):
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                result = lfw.evaluate(e1, e2, issame, distance=distance,
                                      subtract_mean=subtract_mean)
                times.append(time.perf_counter() - start)
            print(f"  {distance:9s} subtract_mean={subtract_mean!s:5s}  "
                  f"best {min(times) * 1e3:7.1f} ms  median {statistics.median(times) * 1e3:7.1f} ms"
                  f"  (accuracy {result.formatted}, VAL@FAR=1e-3 {result.val:.3f})")


if __name__ == "__main__":
    main()
