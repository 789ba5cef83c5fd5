"""The synthetic demo data set: determinism, layout, LFW pairs format, unseen test people, manifest."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

try:
    import modelzoo_facenet  # noqa: F401
except ImportError:  # the plugin is not pip-installed in this checkout: import it from the tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "facenet"))

from modelzoo.contract.api import UserError
from modelzoo_facenet import demo, demo_faces
from modelzoo_facenet.demo import DEMO_DEFAULTS, generate_demo_dataset, make_pairs, read_manifest

SMALL = dict(train_identities=5, images_per_identity=3, test_identities=20, test_images_per_identity=3,
             image_size=32, pairs_per_fold=3)


def _tree(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under root."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _read_pairs(path: Path) -> tuple[int, int, list[list[tuple]]]:
    """A small independent reader of LFW View 2 pairs.txt: (folds, n, per-fold pair lists)."""
    lines = path.read_text().splitlines()
    folds, n = (int(v) for v in lines[0].split())
    body = [line.split("\t") for line in lines[1:]]
    assert len(body) == folds * 2 * n
    out = []
    for f in range(folds):
        chunk = body[f * 2 * n:(f + 1) * 2 * n]
        same = [(a, int(i), int(j)) for a, i, j in chunk[:n]]           # 3 fields: same person
        diff = [(a, int(i), b, int(j)) for a, i, b, j in chunk[n:]]     # 4 fields: two people
        out.append(same + diff)
    return folds, n, out


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> demo.DemoInfo:
    return generate_demo_dataset(tmp_path_factory.mktemp("demo") / "set", seed=0, workers=1, **SMALL)


def test_layout_and_manifest(small_set: demo.DemoInfo):
    root = small_set.root
    assert small_set.generated and small_set.image_ext == ".png"
    assert sorted(p.name for p in root.iterdir()) == ["DONE.json", "lfw", "pairs.txt", "train"]
    train = sorted(p.name for p in (root / "train").iterdir())
    assert len(train) == 5 == small_set.train_identities
    for name in train:
        files = sorted(p.name for p in (root / "train" / name).iterdir())
        assert files == ["0.png", "1.png", "2.png"]
    people = sorted(p.name for p in (root / "lfw").iterdir())
    assert len(people) == 20 == small_set.test_identities
    for name in people:
        files = sorted(p.name for p in (root / "lfw" / name).iterdir())
        assert files == [f"{name}_{i:04d}.png" for i in (1, 2, 3)]
    image = cv2.imread(str(root / "lfw" / people[0] / f"{people[0]}_0001.png"), cv2.IMREAD_UNCHANGED)
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    manifest = read_manifest(root)
    assert manifest["seed"] == 0 and manifest["version"] == demo.GENERATOR_VERSION
    assert manifest["params"] == {**DEMO_DEFAULTS, **SMALL}
    assert manifest["counts"] == {"train_identities": 5, "train_images": 15, "test_identities": 20,
                                  "test_images": 60, "pairs": 60}
    assert [p.name for p in root.parent.glob(".set.*")] == [".set.lock"]  # the build lock, no temporary folder


def test_pairs_file_is_valid_lfw_view2(small_set: demo.DemoInfo):
    folds, n, pairs = _read_pairs(small_set.pairs_path)
    assert (folds, n) == (10, 3) and small_set.pairs == 60
    assert small_set.pairs_path.read_text().splitlines()[0] == "10\t3"
    lfw = small_set.lfw_dir
    fold_people = []
    for fold in pairs:
        same, diff = fold[:n], fold[n:]
        assert len(set(same)) == n and len(set(diff)) == n  # no repeated pair
        people = set()
        for name, i, j in same:
            assert i != j and 1 <= i <= 3 and 1 <= j <= 3
            people.add(name)
        for a, _i, b, _j in diff:
            assert a != b
            people.update((a, b))
        for pair in same:
            assert (lfw / pair[0] / f"{pair[0]}_{pair[1]:04d}.png").is_file()
            assert (lfw / pair[0] / f"{pair[0]}_{pair[2]:04d}.png").is_file()
        for a, i, b, j in diff:
            assert (lfw / a / f"{a}_{i:04d}.png").is_file() and (lfw / b / f"{b}_{j:04d}.png").is_file()
        fold_people.append(people)
    for k in range(folds):  # as in LFW, no person appears in two folds
        for m in range(k + 1, folds):
            assert fold_people[k].isdisjoint(fold_people[m])


def test_test_identities_are_unseen(small_set: demo.DemoInfo):
    train = {p.name for p in small_set.train_dir.iterdir()}
    test = {p.name for p in small_set.lfw_dir.iterdir()}
    assert train.isdisjoint(test)
    # identity k of the test split is a different draw from identity k of the training split
    for k in range(5):
        a, b = demo_faces.identity_traits(0, 0, k), demo_faces.identity_traits(0, 1, k)
        assert a["a"] != b["a"] and not np.array_equal(a["skin"], b["skin"])
    train_hashes = {h for rel, h in _tree(small_set.train_dir).items()}
    assert train_hashes.isdisjoint(_tree(small_set.lfw_dir).values())


def test_same_seed_same_bytes_any_worker_count(small_set: demo.DemoInfo, tmp_path: Path):
    logs: list[str] = []
    again = generate_demo_dataset(tmp_path / "again", seed=0, workers=2, log=logs.append, **SMALL)
    assert again.generated and not any("failed" in line for line in logs), logs  # really 2 processes
    assert _tree(again.root) == _tree(small_set.root)
    other = generate_demo_dataset(tmp_path / "other", seed=1, workers=1, **SMALL)
    a, b = _tree(small_set.root), _tree(other.root)
    assert a.keys() == b.keys()
    differ = [k for k in a if k.endswith(".png") and a[k] != b[k]]
    assert len(differ) == sum(k.endswith(".png") for k in a)  # every image changes with the seed
    assert a["pairs.txt"] != b["pairs.txt"]


def _generate_elsewhere(root: Path, seed: int, params: dict) -> dict:
    """The set generated by another process (an earlier run); its manifest."""
    code = ("import json, sys; from modelzoo_facenet.demo import generate_demo_dataset; "
            "info = generate_demo_dataset(sys.argv[1], seed=int(sys.argv[2]), workers=1, **json.loads(sys.argv[3])); "
            "print(json.dumps(info.manifest))")
    plugin = str(Path(demo.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([plugin, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", code, str(root), str(seed), json.dumps(params)], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_reuse_when_manifest_matches_and_redo_otherwise(tmp_path: Path):
    root = tmp_path / "d"
    params = dict(SMALL, train_identities=2, test_images_per_identity=2, pairs_per_fold=1)
    manifest = _generate_elsewhere(root, 3, params)
    stamp = (root / "pairs.txt").stat().st_mtime_ns
    reused = generate_demo_dataset(root, seed=3, workers=1, **params)
    assert not reused.generated and reused.manifest == manifest
    assert (root / "pairs.txt").stat().st_mtime_ns == stamp
    # other parameters or another seed: regenerated in place
    bigger = generate_demo_dataset(root, seed=3, workers=1, **dict(params, train_identities=3))
    assert bigger.generated and len(list((root / "train").iterdir())) == 3
    # an interrupted run: files present, no manifest -> redone
    (root / "DONE.json").unlink()
    (root / "train" / "id_00000" / "0.png").unlink()
    redone = generate_demo_dataset(root, seed=3, workers=1, **dict(params, train_identities=3))
    assert redone.generated and (root / "train" / "id_00000" / "0.png").is_file()
    # a corrupt manifest is not trusted either
    (root / "DONE.json").write_text("{trunc")
    assert generate_demo_dataset(root, seed=3, workers=1, **dict(params, train_identities=3)).generated


def test_a_run_that_generated_its_set_says_so_when_it_asks_again(tmp_path: Path):
    """Training asks for the set, then evaluation does: both answers say this run generated
    it (the run's log must not read "reused" for data it just made)."""
    root = tmp_path / "d"
    params = dict(SMALL, train_identities=2, test_images_per_identity=2, pairs_per_fold=1)
    first = generate_demo_dataset(root, seed=4, workers=1, **params)
    again = generate_demo_dataset(root, seed=4, workers=1, **params)
    assert first.generated and again.generated and again.seconds == first.seconds > 0
    # another set in the same folder is new again, and the first is no longer "ours" once replaced
    other = generate_demo_dataset(root, seed=5, workers=1, **params)
    assert other.generated and other.manifest["seed"] == 5


def test_two_runs_on_an_empty_cache_generate_the_set_once(tmp_path: Path, two_builders_at_once):
    """The second of two runs started together waits for the first's set and reuses it,
    instead of swapping its own copy in while the first is reading."""
    root = tmp_path / "d"
    params = dict(SMALL, train_identities=2, test_images_per_identity=2, pairs_per_fold=1)
    results = two_builders_at_once(root, lambda log: generate_demo_dataset(root, seed=3, workers=1, log=log,
                                                                           **params))
    assert sorted(info.generated for info in results) == [False, True]
    assert results[0].manifest == results[1].manifest
    assert sorted(p.name for p in tmp_path.iterdir()) == [".d.lock", "d"]  # no temporary folder left


def test_stale_temporary_folder_is_removed(tmp_path: Path):
    dead_pid = 2**22 + 12345  # above Linux's pid_max: never a live process
    stale = tmp_path / f".d.tmp-{dead_pid}"
    (stale / "train").mkdir(parents=True)
    generate_demo_dataset(tmp_path / "d", seed=0, workers=1,
                          **dict(SMALL, train_identities=1, test_images_per_identity=2, pairs_per_fold=1))
    assert not stale.exists()


def test_refuses_to_replace_a_foreign_folder(tmp_path: Path):
    root = tmp_path / "mine"
    root.mkdir()
    (root / "thesis.tex").write_text("precious")
    with pytest.raises(UserError, match="not a demo data set"):
        generate_demo_dataset(root, workers=1, **SMALL)
    assert (root / "thesis.tex").read_text() == "precious"


def test_bad_parameters():
    with pytest.raises(TypeError):
        generate_demo_dataset("/nonexistent/x", bogus=3)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="pairs_per_fold"):
        make_pairs(0, [f"P{i}" for i in range(20)], 2, pairs_per_fold=5)  # 2 people x 1 pair per fold
    with pytest.raises(ValueError, match="test_identities"):
        generate_demo_dataset("/nonexistent/x", test_identities=10)


def test_defaults_give_a_valid_protocol():
    names = [f"Person_{k:04d}" for k in range(DEMO_DEFAULTS["test_identities"])]
    pairs = make_pairs(0, names, DEMO_DEFAULTS["test_images_per_identity"], DEMO_DEFAULTS["pairs_per_fold"])
    assert len(pairs) == 10 and all(len(f) == 2 * DEMO_DEFAULTS["pairs_per_fold"] for f in pairs)
    assert DEMO_DEFAULTS["image_size"] >= demo.DEMO_CROP


def test_identity_images_vary_and_rendering_is_pure():
    """Images of one identity differ (pose, light...), and the rendering is pure in its inputs."""
    images = demo_faces.render_identity_images(7, 0, 4, 4, 40)
    assert all(im.shape == (40, 40, 3) and im.dtype == np.uint8 for im in images)
    assert len({im.tobytes() for im in images}) == 4
    again = demo_faces.render_identity_images(7, 0, 4, 4, 40)
    assert all(np.array_equal(a, b) for a, b in zip(images, again))


def test_identity_signal_survives_the_nuisance():
    """Raw pixels of one identity are closer than those of two identities, on average.

    A weak signal by design (pixel-space verification is ~0.6 on the demo pairs: lighting,
    background, pose and occlusion dominate), but it vanishes if the identity traits stop
    reaching the images. Measured margin: 0.83 vs 1.01 cosine distance, ~8 standard errors.
    """
    ids, per = 30, 4
    x = np.stack([np.stack(demo_faces.render_identity_images(0, 1, k, per, 32)) for k in range(ids)])
    v = x.reshape(ids * per, -1).astype(np.float64)
    v -= v.mean(0)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    dist = 1 - v @ v.T
    label = np.repeat(np.arange(ids), per)
    same = (label[:, None] == label[None]) & ~np.eye(ids * per, dtype=bool)
    diff = label[:, None] != label[None]
    assert dist[same].mean() < dist[diff].mean() - 0.05


# Recorded from the generator before its drawing code was split into named functions
# (OpenCV 5.0.0, numpy 2.4.6): a refactor of the drawing must leave every byte as it was.
# A new OpenCV may change anti-aliasing or PNG encoding and this constant with it; a
# deliberate change of the drawing bumps GENERATOR_VERSION and records a new constant.
# 2026-12-01: the manifest's training crop went from 64 to 48 with the demo profile (DONE.json
# only; every image as before).
GOLDEN_SET = dict(train_identities=40, images_per_identity=3, test_identities=20,
                  test_images_per_identity=3, image_size=32, pairs_per_fold=3)
GOLDEN_SHA256 = "6534ad40c662e1e0181b9496695a7ebfa8cbddc744d37974af07269fc0f6a4cc"


def test_generated_set_is_byte_identical_to_the_recorded_one(tmp_path: Path):
    """40 + 20 identities cover every hair style, glasses, beard and nose kind."""
    info = generate_demo_dataset(tmp_path / "golden", seed=0, workers=1, **GOLDEN_SET)
    digest = hashlib.sha256()
    for rel, file_hash in _tree(info.root).items():
        digest.update(rel.encode() + b"\0" + bytes.fromhex(file_hash))
    assert digest.hexdigest() == GOLDEN_SHA256
