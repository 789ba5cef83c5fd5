"""LFW evaluation end to end (modelzoo_facenet.lfw_eval) on a tiny generated image set with
an embed_fn whose answers are known."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from modelzoo.contract.api import UserError
from modelzoo_facenet import lfw, lfw_protocol
from modelzoo_facenet.lfw_eval import (
    LfwPairsDataset,
    embed_images,
    evaluate_lfw,
    fixed_standardization,
    load_image,
    standardization,
)

SIZE = 8


def _color(person: int, index: int) -> np.ndarray:
    """RGB color of image ``index`` of person ``person``: a person's images are close."""
    rng = np.random.default_rng(person)
    base = rng.integers(40, 216, size=3)
    return (base + 6 * index * np.array([1, -1, 1])).astype(np.uint8)


def _name(person: int) -> str:
    return f"Person_{person:02d}"


def _write_dataset(root: Path, rng, n_folds=2, per_class=10, n_people=12, n_images=3,
                   skip=()):
    """Uniform-color images (written BGR, as cv2 does) and a View 2 pairs file."""
    for p in range(n_people):
        for i in range(1, n_images + 1):
            if (p, i) in skip:
                continue
            path = root / "images" / _name(p) / f"{_name(p)}_{i:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            rgb = np.broadcast_to(_color(p, i), (SIZE, SIZE, 3))
            assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    lines = [f"{n_folds}\t{per_class}"]
    for _ in range(n_folds):
        for _ in range(per_class):
            p = int(rng.integers(n_people))
            i, j = rng.choice(np.arange(1, n_images + 1), 2, replace=False)
            lines.append(f"{_name(p)}\t{i}\t{j}")
        for _ in range(per_class):
            p, q = rng.choice(n_people, 2, replace=False)
            i, j = rng.integers(1, n_images + 1, size=2)
            lines.append(f"{_name(p)}\t{i}\t{_name(q)}\t{j}")
    pairs_file = root / "pairs.txt"
    pairs_file.write_text("\n".join(lines) + "\n")
    return pairs_file, root / "images"


class MeanColor:
    """embed_fn: the mean standardized color of each image; counts the images it sees."""

    def __init__(self):
        self.rows = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dtype == torch.float32 and x.shape[1:] == (3, SIZE, SIZE)
        self.rows += x.shape[0]
        return x.mean(dim=(2, 3))


def _expected(pairs, flip=False):
    emb = {}
    for p in pairs:
        for name, index in (p.key1, p.key2):
            person = int(name.split("_")[1])
            e = (_color(person, index).astype(np.float64) - 127.5) / 128
            emb[(name, index)] = np.concatenate([e, e]) if flip else e
    e1 = np.array([emb[p.key1] for p in pairs])
    e2 = np.array([emb[p.key2] for p in pairs])
    return e1, e2, np.array([p.issame for p in pairs]), len(emb)


def _assert_same_result(result, ref):
    assert result.fold_accuracies == pytest.approx(ref.fold_accuracies)
    assert result.thresholds == pytest.approx(ref.thresholds)
    assert result.roc_tpr == pytest.approx(ref.roc_tpr)
    assert result.roc_fpr == pytest.approx(ref.roc_fpr)
    assert result.val == pytest.approx(ref.val) and result.auc == pytest.approx(ref.auc)


@pytest.mark.parametrize("distance, subtract_mean", [("euclidean", False), ("cosine", True)])
def test_evaluate_lfw_end_to_end(tmp_path, distance, subtract_mean):
    pairs_file, images = _write_dataset(tmp_path, np.random.default_rng(0))
    embed = MeanColor()
    result = evaluate_lfw(embed, pairs_file, images, image_size=SIZE, batch_size=7,
                          device="cpu", flip=False, distance=distance,
                          subtract_mean=subtract_mean)
    pairs = lfw.read_pairs(pairs_file)
    e1, e2, issame, n_distinct = _expected(pairs)
    assert embed.rows == n_distinct  # each distinct image embedded once
    ref = lfw_protocol.evaluate(e1, e2, issame, distance=distance, subtract_mean=subtract_mean,
                                n_folds=2)
    _assert_same_result(result, ref)
    assert result.n_pairs == 40 and result.fold_labels == [1, 2] and result.missing == []
    assert result.accuracy > 0.9  # a person's colors are close, different people's far


def test_evaluate_lfw_one_fold_with_interleaved_subfolds(tmp_path):
    pairs_file, images = _write_dataset(tmp_path, np.random.default_rng(1), n_folds=3)
    result = evaluate_lfw(MeanColor(), pairs_file, images, image_size=SIZE, batch_size=16,
                          device="cpu", flip=False, distance="cosine", subtract_mean=False,
                          folds="interleaved", test_fold=2)
    fold2 = [p for p in lfw.read_pairs(pairs_file) if p.fold == 2]
    e1, e2, issame, _ = _expected(fold2)
    ref = lfw_protocol.evaluate(e1, e2, issame, distance="cosine",
                                folds=lfw_protocol.interleaved_subfolds(issame))
    _assert_same_result(result, ref)
    assert result.n_pairs == 20 and len(result.fold_accuracies) == 10
    with pytest.raises(UserError, match="interleaved"):
        evaluate_lfw(MeanColor(), pairs_file, images, image_size=SIZE, batch_size=16,
                     device="cpu", flip=False, distance="cosine", subtract_mean=False,
                     test_fold=2)
    with pytest.raises(UserError, match="test fold 4"):
        evaluate_lfw(MeanColor(), pairs_file, images, image_size=SIZE, batch_size=16,
                     device="cpu", flip=False, distance="cosine", subtract_mean=False,
                     folds="interleaved", test_fold=4)


def test_evaluate_lfw_missing_images(tmp_path):
    pairs_file, images = _write_dataset(tmp_path, np.random.default_rng(2), skip={(3, 1)})
    pairs = lfw.read_pairs(pairs_file)
    hit = [p for p in pairs if ("Person_03", 1) in (p.key1, p.key2)]
    assert hit, "the generated pairs must use the removed image"
    kwargs = dict(image_size=SIZE, batch_size=8, device="cpu", flip=False,
                  distance="euclidean", subtract_mean=False)
    with pytest.raises(UserError, match="1 of .* LFW images missing"):
        evaluate_lfw(MeanColor(), pairs_file, images, **kwargs)
    result = evaluate_lfw(MeanColor(), pairs_file, images, allow_missing=True, **kwargs)
    assert result.missing == ["Person_03/Person_03_0001"]
    assert result.n_pairs == len(pairs) - len(hit)
    kept = [p for p in pairs if p not in hit]
    e1, e2, issame, _ = _expected(kept)
    ref = lfw_protocol.evaluate(e1, e2, issame, folds=np.array([p.fold for p in kept]))
    _assert_same_result(result, ref)


def test_flip_concatenates_image_and_mirror_embeddings(tmp_path):
    paths = []
    rng = np.random.default_rng(3)
    for k in range(5):
        path = tmp_path / f"img{k}.png"
        cv2.imwrite(str(path), rng.integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8))
        paths.append(str(path))
    dataset = LfwPairsDataset(paths[:3], paths[2:], image_size=SIZE)
    assert len(dataset) == 5 and dataset.index2.tolist() == [2, 3, 4]

    def first_row(x):  # position-sensitive: a mirror changes it
        return x[:, 0, 0, :]

    plain = embed_images(first_row, dataset, batch_size=2, device="cpu", flip=False)
    both = embed_images(first_row, dataset, batch_size=2, device="cpu", flip=True)
    assert plain.shape == (5, SIZE) and both.shape == (5, 2 * SIZE)
    assert plain.dtype == np.float32
    np.testing.assert_array_equal(both[:, :SIZE], plain)
    np.testing.assert_array_equal(both[:, SIZE:], plain[:, ::-1])
    images = torch.stack([load_image(p) for p in paths]).float()
    np.testing.assert_allclose(plain, ((images - 127.5) / 128)[:, 0, 0, :].numpy())
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        embed_images(lambda x: x[:, 0], dataset, batch_size=2, device="cpu", flip=False)


def test_load_image_color_order_gray_alpha_and_resize(tmp_path):
    bgr = np.zeros((20, 20, 3), np.uint8)
    bgr[:, :, 2] = 200  # red in cv2's BGR order
    cv2.imwrite(str(tmp_path / "red.png"), bgr)
    red = load_image(tmp_path / "red.png")
    assert red.dtype == torch.uint8 and red.shape == (3, 20, 20)
    assert red[0].eq(200).all() and red[1:].eq(0).all()

    cv2.imwrite(str(tmp_path / "gray.png"), np.full((20, 20), 77, np.uint8))
    gray = load_image(tmp_path / "gray.png")
    assert gray.shape == (3, 20, 20) and gray.eq(77).all()

    bgra = np.zeros((20, 20, 4), np.uint8)
    bgra[..., 0], bgra[..., 3] = 90, 128
    cv2.imwrite(str(tmp_path / "alpha.png"), bgra)
    alpha = load_image(tmp_path / "alpha.png", image_size=12)
    assert alpha.shape == (3, 12, 12) and alpha[2].eq(90).all() and alpha[:2].eq(0).all()
    assert load_image(tmp_path / "gray.png", image_size=30).shape == (3, 30, 30)

    ramp = np.arange(20 * 20, dtype=np.uint8).reshape(20, 20) % 200
    cv2.imwrite(str(tmp_path / "ramp.png"), ramp)
    centre = load_image(tmp_path / "ramp.png", crop_size=10)
    assert centre.shape == (3, 10, 10) and torch.equal(centre[0], torch.from_numpy(ramp[5:15, 5:15]))
    assert load_image(tmp_path / "ramp.png", image_size=4, crop_size=10).shape == (3, 4, 4)
    with pytest.raises(UserError, match="crop_size 30 is larger"):
        load_image(tmp_path / "ramp.png", crop_size=30)

    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(UserError, match="cannot read image"):
        load_image(tmp_path / "broken.jpg")


def test_real_lfw_images_load_at_160(lfw_dir):
    pairs = lfw.read_pairs(lfw_dir / "pairs.txt")[:4]
    p1, p2, _, _, _ = lfw.resolve_pairs(pairs, lfw_dir / "images_deepfunneled")
    dataset = LfwPairsDataset(p1, p2, image_size=160)
    image = dataset[0]
    assert image.shape == (3, 160, 160) and image.dtype == torch.uint8
    assert 30 < image.float().mean() < 225  # a photo, not a blank


def test_load_image_takes_height_and_width(tmp_path):
    ramp = (np.arange(24 * 20, dtype=np.uint16).reshape(24, 20) % 200).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "tall.png"), ramp)
    window = load_image(tmp_path / "tall.png", crop_size=(12, 10))      # centre 12 rows x 10 columns
    assert window.shape == (3, 12, 10) and torch.equal(window[0], torch.from_numpy(ramp[6:18, 5:15]))
    assert load_image(tmp_path / "tall.png", image_size=(14, 12)).shape == (3, 14, 12)
    with pytest.raises(UserError, match="crop_size 26x10 \\(height x width\\) is larger"):
        load_image(tmp_path / "tall.png", crop_size=(26, 10))


def test_standardization_to_minus_one_one():
    x = torch.tensor([0.0, 127.5, 255.0])
    torch.testing.assert_close(standardization(127.5)(x), torch.tensor([-1.0, 0.0, 1.0]))
    assert standardization(128.0) is fixed_standardization
