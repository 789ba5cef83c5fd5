"""Time of the LFW 10-fold protocol (modelzoo_facenet.lfw_protocol.evaluate) on 6000 random
pairs, against a plain port of davidsandberg/facenet's threshold loops.

    python bench/lfw_protocol_bench.py [--dim 512] [--repeat 5] [--json FILE] [--quick]

For each distance (squared Euclidean, cosine) and mean subtraction (off, on) it runs ours
and the plain port in turn, ``--repeat`` times, and prints the best and median wall time of
each, the ratio of the medians, and whether both give the same accuracy. Ours computes
accuracy over 400 thresholds, the ROC, VAL@FAR over 4000 thresholds, AUC and EER. The plain
port does what davidsandberg's ``calculate_roc`` and ``calculate_val`` do: per fold, one
pass over the pairs for every threshold (400 for accuracy and ROC, 4000 for VAL). The
embeddings are random unit vectors with same-person pairs made closer, in pairs.txt's
layout (per fold 300 same then 300 different pairs). numpy only: no device to choose.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from machine import machine_facts

from modelzoo_facenet import lfw_protocol


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


# --- The plain port: davidsandberg/facenet's loops, one threshold at a time ---------------

def _plain_distance(e1: np.ndarray, e2: np.ndarray, distance: str) -> np.ndarray:
    if distance == "euclidean":
        return np.sum(np.square(e1 - e2), axis=1)
    similarity = np.sum(e1 * e2, axis=1) / (np.linalg.norm(e1, axis=1) * np.linalg.norm(e2, axis=1))
    return np.arccos(np.clip(similarity, -1.0, 1.0)) / np.pi


def _plain_accuracy(threshold, dist, issame):
    predict = np.less(dist, threshold)
    tp = np.sum(np.logical_and(predict, issame))
    fp = np.sum(np.logical_and(predict, np.logical_not(issame)))
    tn = np.sum(np.logical_and(np.logical_not(predict), np.logical_not(issame)))
    fn = np.sum(np.logical_and(np.logical_not(predict), issame))
    tpr = 0 if tp + fn == 0 else tp / (tp + fn)
    fpr = 0 if fp + tn == 0 else fp / (fp + tn)
    return tpr, fpr, (tp + tn) / dist.size


def _plain_val_far(threshold, dist, issame):
    predict = np.less(dist, threshold)
    true_accept = np.sum(np.logical_and(predict, issame))
    false_accept = np.sum(np.logical_and(predict, np.logical_not(issame)))
    n_same, n_diff = np.sum(issame), np.sum(np.logical_not(issame))
    return (true_accept / n_same if n_same else 0.0), (false_accept / n_diff if n_diff else 0.0)


def plain_protocol(e1, e2, issame, distance: str, subtract_mean: bool) -> dict:
    """Accuracy (mean, std) and VAL@FAR=1e-3 as davidsandberg's loops compute them; folds in
    file order. Where the original calls interp1d (which current scipy refuses on repeated
    FAR values), FAR is interpolated over its distinct values, keeping the smallest
    threshold of each, as ours does."""
    e1 = np.asarray(e1, np.float64)
    e2 = np.asarray(e2, np.float64)
    n = len(issame)
    folds = np.array_split(np.arange(n), 10)
    acc_thresholds, val_thresholds = np.arange(0, 4, 0.01), np.arange(0, 4, 0.001)
    accuracy, val = np.zeros(10), np.zeros(10)
    tprs = np.zeros((10, len(acc_thresholds)))
    fprs = np.zeros((10, len(acc_thresholds)))
    for k, test in enumerate(folds):
        train = np.setdiff1d(np.arange(n), test)
        mean = np.mean(np.concatenate([e1[train], e2[train]]), axis=0) if subtract_mean else 0.0
        dist = _plain_distance(e1 - mean, e2 - mean, distance)
        acc_train = np.array([_plain_accuracy(t, dist[train], issame[train])[2] for t in acc_thresholds])
        best = int(np.argmax(acc_train))
        for i, t in enumerate(acc_thresholds):
            tprs[k, i], fprs[k, i], _ = _plain_accuracy(t, dist[test], issame[test])
        accuracy[k] = _plain_accuracy(acc_thresholds[best], dist[test], issame[test])[2]
        far_train = np.array([_plain_val_far(t, dist[train], issame[train])[1] for t in val_thresholds])
        if far_train.max() >= lfw_protocol.FAR_TARGET:
            far_values, first = np.unique(far_train, return_index=True)
            threshold = float(np.interp(lfw_protocol.FAR_TARGET, far_values, val_thresholds[first]))
        else:
            threshold = 0.0
        val[k] = _plain_val_far(threshold, dist[test], issame[test])[0]
    return {"accuracy": float(accuracy.mean()), "accuracy_std": float(accuracy.std()), "val": float(val.mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dim", type=int, default=512, help="embedding size (1024 = 512 flipped)")
    parser.add_argument("--repeat", type=int, default=None, help="runs of each (default 5; --quick 2; --smoke 1)")
    parser.add_argument("--quick", action="store_true",
                        help="2 runs of each, the plain port only for squared Euclidean without mean subtraction")
    parser.add_argument("--smoke", action="store_true", help="as --quick, 1 run of each")
    parser.add_argument("--no-plain", action="store_true", help="time ours only")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    args = parser.parse_args()
    args.quick = args.quick or args.smoke
    repeat = args.repeat or (1 if args.smoke else 2 if args.quick else 5)
    e1, e2, issame = make_pairs(args.dim)
    info = machine_facts()
    print(f"LFW protocol on 6000 pairs, dim {args.dim}, {repeat} runs each, ours and the plain port in turn; "
          f"numpy {np.__version__}")
    print(f"Machine: {info.get('cpu')}, {info.get('cpu_count')} CPUs, load {info.get('load_average')}, "
          f"python {info.get('python')}")
    lfw_protocol.evaluate(e1, e2, issame)  # warm-up outside the clock (first-call allocations)
    rows, summary = [], []
    for distance in lfw_protocol.DISTANCES:
        for subtract_mean in (False, True):
            with_plain = not args.no_plain and (not args.quick or (distance, subtract_mean) == ("euclidean", False))
            ours_t, plain_t = [], []
            for _ in range(repeat):
                start = time.perf_counter()
                result = lfw_protocol.evaluate(e1, e2, issame, distance=distance, subtract_mean=subtract_mean)
                ours_t.append(time.perf_counter() - start)
                if with_plain:
                    start = time.perf_counter()
                    plain = plain_protocol(e1, e2, issame, distance, subtract_mean)
                    plain_t.append(time.perf_counter() - start)
            row = {"distance": distance, "subtract_mean": subtract_mean, "ours_best_ms": min(ours_t) * 1e3,
                   "ours_median_ms": statistics.median(ours_t) * 1e3, "accuracy": result.accuracy,
                   "accuracy_std": result.accuracy_std, "val": result.val}
            if plain_t:
                row.update(plain_best_ms=min(plain_t) * 1e3, plain_median_ms=statistics.median(plain_t) * 1e3,
                           speedup=statistics.median(plain_t) / statistics.median(ours_t),
                           same_accuracy=abs(plain["accuracy"] - result.accuracy) < 1e-12,
                           plain_accuracy=plain["accuracy"], plain_val=plain["val"])
            rows.append(row)
            if plain_t or (distance, subtract_mean) == ("cosine", True):  # the recipe's setting
                summary.append({"name": f"LFW protocol, {distance}{', mean subtracted' if subtract_mean else ''}",
                                "value": round(row["ours_median_ms"], 2), "unit": "ms",
                                "vs_plain": round(row["speedup"], 1) if plain_t else None})
            print(f"  {distance:9s} subtract_mean={subtract_mean!s:5s}  ours best {min(ours_t) * 1e3:7.1f} ms  "
                  f"median {row['ours_median_ms']:7.1f} ms" +
                  (f"  | plain median {row['plain_median_ms']:8.1f} ms  x{row['speedup']:.1f}  "
                   f"same accuracy: {row['same_accuracy']}" if plain_t else "") +
                  f"  (accuracy {result.formatted}, VAL@FAR=1e-3 {result.val:.3f})")
    print("\n| distance | mean subtraction | ours median | plain port median | ours vs plain |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['distance']} | {'yes' if r['subtract_mean'] else 'no'} | {r['ours_median_ms']:.1f} ms | "
              + (f"{r['plain_median_ms']:.0f} ms | {r['speedup']:.0f}x |" if "speedup" in r else "- | - |"))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "pairs": 6000, "dim": args.dim, "repeat": repeat,
                                               "results": rows, "summary": summary}, indent=1, default=str))


if __name__ == "__main__":
    main()
