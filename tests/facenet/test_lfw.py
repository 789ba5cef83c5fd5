"""The LFW protocol (modelzoo_facenet.lfw_protocol) against a brute-force re-implementation
and on hand-built edge cases (ties, thresholds hit exactly, repeated FAR); the LFW files
(modelzoo_facenet.lfw): the parsers, and the real View 2 files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from modelzoo.contract.api import UserError
from modelzoo_facenet import lfw, lfw_protocol

GRID = np.arange(0, 4, 0.01)
VAL_GRID = np.arange(0, 4, 0.001)


# --------------------------------------------------------------------------- brute force


def _brute_distance(a, b, distance):
    if distance == "euclidean":
        return np.array([sum((x - y) ** 2 for x, y in zip(u, v)) for u, v in zip(a, b)])
    out = []
    for u, v in zip(a, b):
        sim = float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))
        out.append(math.acos(min(1.0, max(-1.0, sim))) / math.pi)
    return np.array(out)


def _brute_val_threshold(far_train):
    """Training FAR per VAL_GRID threshold -> threshold for FAR 1e-3, written as a scan:
    the step below (or at) the target starts at t_lo, the next step up starts at t_hi."""
    if max(far_train) < 1e-3:
        return 0.0
    lo_far = lo_t = hi_far = hi_t = None
    for t, f in zip(VAL_GRID, far_train):
        if f <= 1e-3 and (lo_far is None or f > lo_far):
            lo_far, lo_t = f, t
        if f > 1e-3 and hi_far is None:
            hi_far, hi_t = f, t
    if lo_far == 1e-3 or hi_far is None:
        return lo_t
    return lo_t + (1e-3 - lo_far) / (hi_far - lo_far) * (hi_t - lo_t)


def _brute(e1, e2, issame, splits, distance, subtract_mean):
    """davidsandberg's calculate_roc/calculate_val with plain loops over thresholds."""
    accs, best, tprs, fprs, vals, fars = [], [], [], [], [], []
    for train, test in splits:
        mean = np.concatenate([e1[train], e2[train]]).mean(axis=0) if subtract_mean else 0.0
        d = _brute_distance(e1 - mean, e2 - mean, distance)
        best_acc, best_t = -1.0, None
        for t in GRID:
            acc = np.mean((d[train] < t) == issame[train])
            if acc > best_acc:  # strict: the first (lowest) threshold wins a tie
                best_acc, best_t = acc, t
        best.append(best_t)
        accs.append(np.mean((d[test] < best_t) == issame[test]))
        same_t, diff_t = d[test][issame[test]], d[test][~issame[test]]
        tprs.append([np.mean(same_t < t) for t in GRID])
        fprs.append([np.mean(diff_t < t) for t in GRID])
        diff_train = d[train][~issame[train]]
        far_train = [np.mean(diff_train < t) for t in VAL_GRID]
        t = _brute_val_threshold(far_train)
        vals.append(np.mean(same_t < t))
        fars.append(np.mean(diff_t < t))
    return dict(acc=np.array(accs), best=np.array(best), tpr=np.mean(tprs, axis=0),
                fpr=np.mean(fprs, axis=0), val=np.array(vals), far=np.array(fars))


def _kfold_splits(n, n_folds):
    from sklearn.model_selection import KFold

    return list(KFold(n_splits=n_folds, shuffle=False).split(np.arange(n)))


def _random_pairs(seed, n_folds=10, per_class=30, dim=8, offset=0.0):
    """pairs.txt layout: per fold, same pairs then different pairs."""
    rng = np.random.default_rng(seed)
    issame = np.tile(np.repeat([True, False], per_class), n_folds)
    n = len(issame)
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    e1 = unit(rng.normal(size=(n, dim)))
    e2 = np.where(issame[:, None], unit(e1 + rng.uniform(0.3, 1.5) * rng.normal(size=(n, dim))),
                  unit(rng.normal(size=(n, dim))))
    shift = offset * rng.normal(size=dim)
    return e1 + shift, e2 + shift, issame


def _assert_matches(result, ref):
    np.testing.assert_array_equal(result.thresholds, ref["best"])
    np.testing.assert_allclose(result.fold_accuracies, ref["acc"], rtol=0, atol=1e-12)
    assert result.accuracy == pytest.approx(ref["acc"].mean(), abs=1e-12)
    assert result.accuracy_std == pytest.approx(ref["acc"].std(), abs=1e-12)
    np.testing.assert_allclose(result.roc_tpr, ref["tpr"], atol=1e-12)
    np.testing.assert_allclose(result.roc_fpr, ref["fpr"], atol=1e-12)
    assert result.val == pytest.approx(ref["val"].mean(), abs=1e-12)
    assert result.val_std == pytest.approx(ref["val"].std(), abs=1e-12)
    assert result.far == pytest.approx(ref["far"].mean(), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
@pytest.mark.parametrize("subtract_mean", [False, True])
def test_evaluate_matches_brute_force(seed, distance, subtract_mean):
    # An offset makes the mean matter for the cosine distance.
    e1, e2, issame = _random_pairs(seed, offset=0.5 if subtract_mean else 0.0)
    result = lfw_protocol.evaluate(e1, e2, issame, distance=distance, subtract_mean=subtract_mean)
    ref = _brute(e1, e2, issame, _kfold_splits(len(issame), 10), distance, subtract_mean)
    _assert_matches(result, ref)
    assert result.n_pairs == len(issame)
    assert 0.5 < result.accuracy < 1.0  # the data must make the protocol work at all

    from sklearn.metrics import auc

    assert result.auc == pytest.approx(auc(ref["fpr"], ref["tpr"]), abs=1e-12)
    from scipy.interpolate import interp1d
    from scipy.optimize import brentq

    # davidsandberg's EER: brentq on 1 - x - tpr(x) over the mean ROC.
    fpr = np.concatenate([[0.0], ref["fpr"], [1.0]])
    tpr = np.concatenate([[0.0], ref["tpr"], [1.0]])
    eer = brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0, xtol=1e-12)
    assert result.eer == pytest.approx(eer, abs=1e-9)


def test_uneven_folds_follow_kfold_blocks():
    e1, e2, issame = _random_pairs(5, n_folds=11, per_class=28)
    e1, e2, issame = e1[:605], e2[:605], issame[:605]
    for n_folds in (10, 7):
        result = lfw_protocol.evaluate(e1, e2, issame, n_folds=n_folds)
        _assert_matches(result, _brute(e1, e2, issame, _kfold_splits(605, n_folds),
                                       "euclidean", False))


def test_explicit_fold_labels():
    e1, e2, issame = _random_pairs(3)
    labels = np.random.default_rng(0).choice([4, 7, 9, 20], size=len(issame))
    result = lfw_protocol.evaluate(e1, e2, issame, distance="cosine", subtract_mean=True, folds=labels)
    splits = [(np.flatnonzero(labels != k), np.flatnonzero(labels == k)) for k in (4, 7, 9, 20)]
    _assert_matches(result, _brute(e1, e2, issame, splits, "cosine", True))
    assert result.fold_labels == [4, 7, 9, 20]


# --------------------------------------------------------------------------- exact cases


def _pairs_at(roots):
    """1-D embedding pairs (a, 0): squared distance a*a, computed exactly as lfw does."""
    e1 = np.asarray(roots, dtype=np.float64)[:, None]
    return e1, np.zeros_like(e1)


def _folds_of(*fold_specs):
    """fold_specs: per fold a list of (root, issame, count) -> roots, issame, fold labels."""
    roots, same, folds = [], [], []
    for k, spec in enumerate(fold_specs):
        for root, s, count in spec:
            roots += [root] * count
            same += [s] * count
            folds += [k] * count
    return np.array(roots), np.array(same), np.array(folds)


def test_distance_on_a_threshold_is_rejected_and_ties_take_the_lowest_threshold():
    # Same pairs at 0.49^2 = 0.2401, different at 1.0: every threshold in (0.2401, 1.0]
    # is perfect on training and the lowest, 0.25, wins (davidsandberg's np.argmax).
    base = [(0.49, True, 5), (1.0, False, 5)]
    # Fold 0 also holds a same pair at exactly 0.25 = 0.5^2. Held out, it meets the
    # threshold 0.25 and "same" is d < t: rejected. In training, it lifts the lowest
    # perfect threshold of folds 1 and 2 to 0.26.
    roots, same, folds = _folds_of(base + [(0.5, True, 1)], base, base)
    assert 0.5 * 0.5 == GRID[25] == 0.25
    result = lfw_protocol.evaluate(*_pairs_at(roots), same, folds=folds)
    assert result.thresholds == [GRID[25], GRID[26], GRID[26]]
    assert result.fold_accuracies == [10 / 11, 1.0, 1.0]
    ref = _brute(*_pairs_at(roots), same,
                 [(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in range(3)],
                 "euclidean", False)
    _assert_matches(result, ref)


def test_equal_accuracy_plateaus_take_the_lowest():
    # Accuracy 2/3 on (0.2401, 1.0] and again on (2.25, 3.99]: the first plateau wins.
    roots, same, folds = _folds_of(*[[(0.49, True, 1), (1.5, True, 1), (1.0, False, 1)]] * 4)
    result = lfw_protocol.evaluate(*_pairs_at(roots), same, folds=folds)
    assert result.thresholds == [0.25] * 4
    assert result.fold_accuracies == pytest.approx([2 / 3] * 4)


def test_folds_are_contiguous_blocks_of_600_in_file_order():
    # 6000 pairs in pairs.txt layout, separable except for a same pair far away at the
    # last index of fold 3 and the first of fold 4: exactly those folds lose one pair.
    same = np.tile(np.repeat([True, False], 300), 10)
    roots = np.where(same, 0.3, 1.0)
    roots[[2399, 2400]] = 1.9
    same[[2399, 2400]] = True
    result = lfw_protocol.evaluate(*_pairs_at(roots), same)
    expected = [1.0] * 10
    expected[3] = expected[4] = 599 / 600
    assert result.fold_accuracies == expected


def test_zoo_readme_accuracy_formatting():
    # 5934 of 6000 right, fold accuracies with population std 0.00642 (the zoo README).
    correct = [589, 590, 590, 591, 591, 593, 594, 596, 600, 600]
    specs = []
    for c in correct:
        wrong = 600 - c  # same pairs far away: the threshold stays in (0.09, 1.0]
        specs.append([(0.3, True, 300 - wrong), (1.9, True, wrong), (1.0, False, 300)])
    roots, same, folds = _folds_of(*specs)
    result = lfw_protocol.evaluate(*_pairs_at(roots), same)
    assert result.fold_accuracies == pytest.approx([c / 600 for c in correct])
    assert result.formatted == "0.98900+-0.00642"
    metrics = result.as_metrics()
    assert set(metrics) == {"lfw_accuracy", "lfw_accuracy_std", "val_far_1e-3",
                            "val_far_1e-3_std", "far", "auc", "eer", "best_threshold_mean"}
    assert metrics["lfw_accuracy"] == pytest.approx(5934 / 6000)
    assert metrics["lfw_accuracy_std"] == pytest.approx(np.std([c / 600 for c in correct]))
    assert metrics["best_threshold_mean"] == pytest.approx(0.1)  # lowest above 0.09


def test_val_threshold_interpolates_over_repeated_far():
    # Two identical folds of 1250 different pairs: one at 0.25, one at 1.0, the rest at
    # 3.24. Training FAR is 0 up to 0.25, 0.0008 on (0.25, 1.0], 0.0016 on (1.0, 3.24]:
    # each value repeats over hundreds of thresholds. Keeping the smallest threshold of
    # each FAR value, FAR 1e-3 interpolates between 0.251 and 1.001 at a quarter.
    spec = [(0.5, False, 1), (1.0, False, 1), (1.8, False, 1248),
            (0.3, True, 100), (0.84, True, 100)]
    roots, same, folds = _folds_of(spec, spec)
    result = lfw_protocol.evaluate(*_pairs_at(roots), same, folds=folds)
    t = VAL_GRID[251] + 0.25 * (VAL_GRID[1001] - VAL_GRID[251])
    assert result.val_thresholds == pytest.approx([t, t], abs=1e-12)
    assert t == pytest.approx(0.4385)
    # Test fold: same at 0.09 accepted, same at 0.7056 rejected; different at 0.25 accepted.
    assert result.val == pytest.approx(0.5)
    assert result.val_std == 0
    assert result.far == pytest.approx(1 / 1250)


def test_val_threshold_is_zero_when_far_never_reaches_target():
    # Different pairs at squared distance 4.0, beyond the last threshold 3.999.
    spec = [(2.0, False, 50), (0.3, True, 50)]
    roots, same, folds = _folds_of(spec, spec)
    result = lfw_protocol.evaluate(*_pairs_at(roots), same, folds=folds)
    assert result.val_thresholds == [0.0, 0.0]
    assert result.val == 0.0 and result.far == 0.0
    assert result.accuracy == 1.0


def test_val_threshold_at_a_far_value_equal_to_the_target():
    # 1000 training different pairs: one at 0.25 gives FAR exactly 1e-3 from 0.251 on.
    spec = [(0.5, False, 1), (1.8, False, 999), (0.3, True, 10)]
    roots, same, folds = _folds_of(spec, spec)
    result = lfw_protocol.evaluate(*_pairs_at(roots), same, folds=folds)
    assert result.val_thresholds == [VAL_GRID[251]] * 2


def test_perfect_separation_gives_auc_one_and_eer_zero():
    same = np.tile(np.repeat([True, False], 30), 10)
    result = lfw_protocol.evaluate(*_pairs_at(np.where(same, 0.3, 1.2)), same)
    assert result.accuracy == 1.0 and result.accuracy_std == 0.0
    assert result.auc == 1.0 and result.eer == 0.0
    # Training FAR jumps from 0 straight to 1 at 1.44, so FAR 1e-3 interpolates between
    # (FAR 0, threshold 0) and (FAR 1, 1.441): threshold 0.00144, nothing is accepted.
    # A FAR step larger than the target (fewer than 1000 training different pairs) makes
    # VAL@FAR=1e-3 unresolvable; the interpolation then stays on the safe side.
    assert result.val_thresholds == pytest.approx([0.001 * VAL_GRID[1441]] * 10)
    assert result.val == 0.0 and result.far == 0.0
    assert len(result.roc_fpr) == len(result.roc_tpr) == 400


def test_cosine_distance_is_angle_over_pi():
    e1 = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    e2 = np.array([[0.0, 3.0], [-1.0, 0.0], [1.0, 1.0], [1.0, 1e-9]])
    np.testing.assert_allclose(lfw_protocol.distances(e1, e2, "cosine"), [0.5, 1.0, 0.25, 0.0],
                               atol=1e-9)
    assert not np.isnan(lfw_protocol.distances(e1 * 1e8, e1 * 1e8, "cosine")).any()


def test_evaluate_rejects_mismatched_input():
    e = np.zeros((10, 4))
    with pytest.raises(ValueError):
        lfw_protocol.evaluate(e, e[:9], np.ones(10, bool))
    with pytest.raises(ValueError):
        lfw_protocol.evaluate(e, e, np.ones(10, bool), distance="manhattan")
    with pytest.raises(UserError, match="at least 2"):
        lfw_protocol.evaluate(e, e, np.ones(10, bool), folds=np.ones(10))


# --------------------------------------------------------------------------- sub-folds


def test_interleaved_subfolds_balance_classes_like_stratified_kfold():
    from sklearn.model_selection import StratifiedKFold

    issame = np.repeat([True, False], 300)
    sub = lfw_protocol.interleaved_subfolds(issame)
    for k in range(10):
        assert (sub[issame] == k).sum() == 30 and (sub[~issame] == k).sum() == 30
    expected = np.empty(600, dtype=int)
    for k, (_, test) in enumerate(StratifiedKFold(10).split(np.zeros(600), issame)):
        expected[test] = k
    np.testing.assert_array_equal(sub, expected)
    # Uneven counts: sizes differ by at most one within each class.
    uneven = np.array([True] * 33 + [False] * 27)
    counts = np.bincount(lfw_protocol.interleaved_subfolds(uneven, 4)[uneven])
    assert counts.tolist() == [9, 8, 8, 8]
    with pytest.raises(UserError, match="cannot fill"):
        lfw_protocol.interleaved_subfolds(np.array([True] * 3 + [False] * 20), 4)


def test_subfold_evaluation_of_one_fold_matches_brute_force():
    e1, e2, issame = _random_pairs(7, n_folds=1, per_class=300, dim=16)
    sub = lfw_protocol.interleaved_subfolds(issame)
    result = lfw_protocol.evaluate(e1, e2, issame, distance="cosine", subtract_mean=True, folds=sub)
    splits = [(np.flatnonzero(sub != k), np.flatnonzero(sub == k)) for k in range(10)]
    _assert_matches(result, _brute(e1, e2, issame, splits, "cosine", True))


# --------------------------------------------------------------------------- parsers


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_read_pairs_view2_layout_and_whitespace(tmp_path):
    text = "2 2\r\nA\t1\t2\nB  3 4\nA 1 B 3\n C\t1\tD 2 \nE 1 2\nE 2 3\nF 1 G 1\nF 1 H 1\n\n\n"
    pairs = lfw.read_pairs(_write(tmp_path, "pairs.txt", text))
    assert [p.fold for p in pairs] == [1, 1, 1, 1, 2, 2, 2, 2]
    assert [p.issame for p in pairs] == [True, True, False, False] * 2
    assert pairs[1] == lfw.Pair("B", 3, "B", 4, True, 1, 3)
    assert pairs[3] == lfw.Pair("C", 1, "D", 2, False, 1, 5)


def test_read_pairs_view1(tmp_path):
    pairs = lfw.read_pairs(_write(tmp_path, "dev.txt", "1\nA 1 2\nA 1 B 1\n"))
    assert [(p.issame, p.fold) for p in pairs] == [(True, 1), (False, 1)]


@pytest.mark.parametrize("text, where, what", [
    ("1 1\nA 1 2\nA 1 B 2 3\n", ":3", "5 fields"),
    ("1 1\nA 1 2\nA 1 B\n", ":3", "image number 'B'"),
    ("1 1\nA 1 x\nA 1 B 2\n", ":2", "image number"),
    ("1 1\nA 0 2\nA 1 B 2\n", ":2", "image number"),
    ("1 2\nA 1 2\nA 1 B 2\n", "", "promises 4 pairs"),
    ("ten 300\n", ":1", "number of folds"),
    ("1 2 3\n", ":1", "header"),
    ("", "", "empty"),
])
def test_read_pairs_errors_name_file_and_line(tmp_path, text, where, what):
    path = _write(tmp_path, "pairs.txt", text)
    with pytest.raises(UserError, match=what) as info:
        lfw.read_pairs(path)
    assert f"{path}{where}" in str(info.value)
    assert "\n" not in str(info.value)


def test_read_pairs_missing_file(tmp_path):
    with pytest.raises(UserError, match="not found"):
        lfw.read_pairs(tmp_path / "nope.txt")


def test_read_people(tmp_path):
    sets = lfw.read_people(_write(tmp_path, "people.txt", "2\n2\nA 3\nB\t1\n1\nC 7\n"))
    assert sets == [[("A", 3), ("B", 1)], [("C", 7)]]
    view1 = lfw.read_people(_write(tmp_path, "dev.txt", "2\nA 3\nB 1\n"))
    assert view1 == [[("A", 3), ("B", 1)]]


@pytest.mark.parametrize("text, where", [
    ("2\n1\nA 3\n1\nC\n", ":5"),
    ("2\n1\nA 3\n", "ends after 1 of 2"),
    ("1\n1\nA x\n", ":3"),
    ("1\n1\nA 1\nB 2\n", ":4"),
])
def test_read_people_errors(tmp_path, text, where):
    path = _write(tmp_path, "people.txt", text)
    with pytest.raises(UserError) as info:
        lfw.read_people(path)
    assert where in str(info.value) and str(path) in str(info.value)


# --------------------------------------------------------------------------- images


def _touch_images(root: Path, stems: list[str], ext: str = ".jpg") -> None:
    for stem in stems:
        path = root / (stem + ext)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def test_resolve_pairs_paths_and_extension_order(tmp_path):
    _touch_images(tmp_path, ["A/A_0001", "A/A_0002", "B/B_0012"])
    _touch_images(tmp_path, ["A/A_0001"], ext=".png")
    pairs = [lfw.Pair("A", 1, "A", 2, True, 1, 2), lfw.Pair("A", 2, "B", 12, False, 2, 3)]
    p1, p2, issame, fold, missing = lfw.resolve_pairs(pairs, tmp_path)
    assert p1 == [str(tmp_path / "A/A_0001.png"), str(tmp_path / "A/A_0002.jpg")]
    assert p2 == [str(tmp_path / "A/A_0002.jpg"), str(tmp_path / "B/B_0012.jpg")]
    assert issame.tolist() == [True, False] and fold.tolist() == [1, 2] and missing == []
    p1, _, _, _, _ = lfw.resolve_pairs(pairs, tmp_path, exts=(".jpg",))
    assert p1[0].endswith("A_0001.jpg")


def test_resolve_pairs_missing_images(tmp_path, caplog):
    _touch_images(tmp_path, ["A/A_0001", "A/A_0002"])
    pairs = [lfw.Pair("A", 1, "A", 2, True, 1, 2),
             lfw.Pair("A", 1, "B", 1, False, 1, 3),
             lfw.Pair("C", 1, "B", 1, False, 1, 4),
             lfw.Pair("A", 2, "A", 1, True, 1, 5)]
    with pytest.raises(UserError) as info:
        lfw.resolve_pairs(pairs, tmp_path)
    message = str(info.value)
    assert "2 of 4 LFW images missing" in message
    assert "B/B_0001, C/C_0001" in message and "in 2 of 4 pairs" in message
    with caplog.at_level("WARNING"):
        p1, p2, issame, fold, missing = lfw.resolve_pairs(pairs, tmp_path, allow_missing=True)
    assert missing == ["B/B_0001", "C/C_0001"]
    assert issame.tolist() == [True, True] and len(p1) == len(p2) == len(fold) == 2
    assert "dropping" in caplog.text
    with pytest.raises(UserError, match="image folder not found"):
        lfw.resolve_pairs(pairs, tmp_path / "nowhere")


# --------------------------------------------------------------------------- real files


@pytest.fixture(scope="module")
def real_pairs(lfw_dir):
    return lfw.read_pairs(lfw_dir / "pairs.txt")


@pytest.fixture(scope="module")
def real_people(lfw_dir):
    return lfw.read_people(lfw_dir / "people.txt")


def test_real_pairs_file(real_pairs, lfw_dir):
    assert len(real_pairs) == 6000
    assert len({p.key1 for p in real_pairs} | {p.key2 for p in real_pairs}) == 7701
    for k in range(1, 11):
        fold = real_pairs[(k - 1) * 600: k * 600]
        assert {p.fold for p in fold} == {k}
        assert [p.issame for p in fold] == [True] * 300 + [False] * 300
    p1, p2, issame, folds, missing = lfw.resolve_pairs(real_pairs, lfw_dir / "images_deepfunneled")
    assert missing == [] and len(set(p1) | set(p2)) == 7701
    assert np.bincount(folds).tolist() == [0] + [600] * 10


def test_real_people_sets_match_pair_folds(real_pairs, real_people):
    assert len(real_people) == 10
    assert sum(len(s) for s in real_people) == 5749
    assert sum(c for s in real_people for _, c in s) == 13233
    set_of = {}
    for k, people in enumerate(real_people, 1):
        for name, _ in people:
            assert name not in set_of, f"{name} is in sets {set_of[name]} and {k}"
            set_of[name] = k
    for p in real_pairs:
        assert set_of[p.name1] == p.fold and set_of[p.name2] == p.fold
    assert len(real_people[9]) == 609


@pytest.mark.parametrize("test_fold", range(1, 11))
def test_real_unrestricted_split_is_disjoint(real_pairs, real_people, test_fold):
    split = lfw.unrestricted_split(real_people, real_pairs, test_fold)
    split.check_disjoint()
    assert len(split.test_pairs) == 600 and {p.fold for p in split.test_pairs} == {test_fold}
    assert split.pair_people <= split.test_people
    assert len(split.train_people) + len(split.test_people) == 5749
    if test_fold == 10:
        assert len(split.pair_people) == 451 and len(split.test_people) == 609
        assert len(split.train_people) == 5140 and split.train_images == 11450


def test_unrestricted_split_detects_leaks_and_bad_folds():
    people = [[("A", 2), ("B", 1)], [("C", 2), ("D", 1)]]
    pairs = [lfw.Pair("A", 1, "A", 2, True, 1, 2), lfw.Pair("C", 1, "A", 1, False, 2, 3)]
    lfw.unrestricted_split(people, pairs, 1).check_disjoint()
    split = lfw.unrestricted_split(people, pairs, 2)
    assert split.train_people == {"A", "B"} and split.train_images == 3
    with pytest.raises(UserError, match="1 people of LFW fold 2"):
        split.check_disjoint()
    with pytest.raises(UserError, match="out of range"):
        lfw.unrestricted_split(people, pairs, 3)
    with pytest.raises(UserError, match="people.txt has 3 sets"):
        lfw.unrestricted_split(people + [[("E", 1)]], pairs, 1)


def test_real_view2_pairs_agree_with_brute_force(real_pairs):
    """The official 6000 pairs (fold layout, same/different order), embeddings made per person."""
    rng = np.random.default_rng(7)
    people = sorted({p.name1 for p in real_pairs} | {p.name2 for p in real_pairs})
    identity = {name: rng.normal(size=16) for name in people}
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    noisy = lambda names: unit(np.stack([identity[n] for n in names]) + 1.2 * rng.normal(size=(len(names), 16)))  # noqa: E731
    e1, e2 = noisy([p.name1 for p in real_pairs]), noisy([p.name2 for p in real_pairs])
    issame = np.array([p.issame for p in real_pairs])
    for distance in ("euclidean", "cosine"):
        result = lfw_protocol.evaluate(e1, e2, issame, distance=distance, subtract_mean=True)
        _assert_matches(result, _brute(e1, e2, issame, _kfold_splits(6000, 10), distance, True))
        assert 0.6 < result.accuracy < 0.99
