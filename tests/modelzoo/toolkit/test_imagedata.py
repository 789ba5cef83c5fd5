"""modelzoo.toolkit.imagedata: decoding, the pre-decoded uint8 cache, the loader helper, DeviceAugment.

Moved from the facenet plugin's tests with the code (assertions unchanged), plus the
class-folder scan and per-channel normalization that classification needs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from modelzoo.contract.api import UserError
from modelzoo.toolkit.imagedata import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    CachedDataset,
    DecodedCache,
    DeviceAugment,
    ImageIndexDataset,
    crop_flip_copy,
    crop_flip_gather,
    decode_image,
    make_train_loader,
    scan_class_folders,
)


def _write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


# --- decoding -------------------------------------------------------------------------

def test_dataset_decodes_rgb_gray_rgba_jpeg(tmp_path: Path):
    root = tmp_path / "d"
    red_bgr = np.zeros((12, 10, 3), np.uint8)
    red_bgr[..., 2] = 200
    _write(root / "a" / "red.png", red_bgr)
    gray = np.arange(120, dtype=np.uint8).reshape(12, 10)
    _write(root / "b" / "gray.png", gray)
    rgba = np.zeros((12, 10, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 150, 40  # blue (BGRA) with low alpha: alpha is dropped, not blended
    _write(root / "c" / "rgba.png", rgba)
    _write(root / "d" / "red.jpg", red_bgr)
    index = scan_class_folders(root)
    ds = ImageIndexDataset(index)
    items = [ds[i] for i in range(len(ds))]
    for image, _label in items:
        assert image.dtype == torch.uint8 and tuple(image.shape) == (3, 12, 10)
    assert [label for _, label in items] == [0, 1, 2, 3]
    red, g, blue, jpeg = (image for image, _ in items)
    assert (red[0] == 200).all() and (red[1:] == 0).all()        # RGB order
    assert all(torch.equal(g[c], torch.from_numpy(gray)) for c in range(3))
    assert (blue[2] == 150).all() and (blue[:2] == 0).all()
    assert (jpeg[0].float().mean() - 200).abs() < 4 and jpeg[1:].float().mean() < 4
    small = ImageIndexDataset(index, resize_to=(6, 5))[1][0]
    assert tuple(small.shape) == (3, 6, 5)


def test_undecodable_file_is_a_user_error(tmp_path: Path):
    bad = tmp_path / "p" / "bad.png"
    bad.parent.mkdir()
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(UserError, match="cannot decode"):
        decode_image(str(bad))


# --- DecodedCache ---------------------------------------------------------------------

def test_cache_equals_direct_decode_and_is_reused(folder_set: Path, tmp_path: Path):
    index = scan_class_folders(folder_set)
    cache_dir = tmp_path / "cache"
    logs: list[str] = []
    first = DecodedCache.open(index, cache_dir, workers=2, log=logs.append)
    assert first.built and len(first) == len(index) and logs
    direct = ImageIndexDataset(index)
    cached = first.dataset()
    for i in range(len(index)):
        a, la = direct[i]
        b, lb = cached[i]
        assert torch.equal(a, b) and la == lb
    # the batched fetch gives the same items, in the requested order
    order = [5, 0, 17, 5, 3]
    for (a, la), i in zip(cached.__getitems__(order), order):
        assert torch.equal(a, direct[i][0]) and la == direct[i][1]
    # pickles light (a spawned worker maps the file itself) and reads the same
    import pickle
    blob = pickle.dumps(cached)
    assert len(blob) < 10_000
    assert torch.equal(pickle.loads(blob)[7][0], direct[7][0])
    second = DecodedCache.open(index, cache_dir, log=logs.append)
    assert not second.built and second.path == first.path and len(logs) == 1
    assert [p.name for p in cache_dir.iterdir()] == [first.path.name]  # no temp folder left behind


def test_cache_rebuilds_when_files_change(folder_set: Path, tmp_path: Path):
    index = scan_class_folders(folder_set)
    first = DecodedCache.open(index, tmp_path / "cache")
    target = Path(index.paths[4])
    new = np.full((20, 20, 3), 7, np.uint8)
    _write(target, new)
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # coarse-mtime filesystems
    second = DecodedCache.open(index, tmp_path / "cache")
    assert second.built and second.path != first.path
    assert (second.dataset()[4][0] == 7).all()
    # a new resize is a different cache too
    third = DecodedCache.open(index, tmp_path / "cache", resize_to=10)
    assert third.built and third.images.shape == (len(index), 10, 10, 3)


def test_cache_build_removes_killed_builds(folder_set: Path, tmp_path: Path):
    index = scan_class_folders(folder_set)
    first = DecodedCache.open(index, tmp_path / "cache")
    shutil.rmtree(first.path)  # as if never built, but a build was killed half-way:
    stale = tmp_path / "cache" / f".{first.path.name}.tmp-{2**22 + 7}"  # pid above pid_max: dead
    (stale / "junk").mkdir(parents=True)
    live = tmp_path / "cache" / f".{first.path.name}.tmp-1"  # pid 1 is alive: not ours to delete
    live.mkdir()
    again = DecodedCache.open(index, tmp_path / "cache")
    assert again.built and again.path == first.path
    assert not stale.exists() and live.exists()


def test_cache_rejects_mixed_sizes(tmp_path: Path):
    root = tmp_path / "mixed"
    _write(root / "a" / "1.png", np.zeros((20, 20, 3), np.uint8))
    _write(root / "b" / "1.png", np.zeros((24, 20, 3), np.uint8))
    index = scan_class_folders(root)
    with pytest.raises(UserError, match="resize_to"):
        DecodedCache.open(index, tmp_path / "cache", workers=1)
    assert not any((tmp_path / "cache").iterdir())  # the failed build left nothing
    assert DecodedCache.open(index, tmp_path / "cache", resize_to=16).images.shape == (2, 16, 16, 3)


def test_loader_batches_from_cache_and_folders(folder_set: Path, tmp_path: Path):
    index = scan_class_folders(folder_set)
    cached = DecodedCache.open(index, tmp_path / "cache").dataset()
    assert isinstance(cached, CachedDataset)
    for ds, workers in ((cached, 0), (ImageIndexDataset(index), 1)):
        loader = make_train_loader(ds, 4, num_workers=workers, shuffle=False)
        batches = list(loader)
        assert len(batches) == len(index) // 4  # drop_last
        x, y = batches[1]
        assert x.dtype == torch.uint8 and tuple(x.shape) == (4, 3, 20, 20)
        assert y.tolist() == index.labels[4:8]
        assert torch.equal(x[0], ImageIndexDataset(index)[4][0])


# --- DeviceAugment --------------------------------------------------------------------

def _find_window(sample: np.ndarray, source: np.ndarray) -> list[tuple[int, int, bool]]:
    """All (top, left, flipped) where ``sample`` is a window of ``source`` (C,H,W)."""
    ch, cw = sample.shape[1:]
    h, w = source.shape[1:]
    hits = []
    for flipped in (False, True):
        s = sample[:, :, ::-1] if flipped else sample
        for top in range(h - ch + 1):
            for left in range(w - cw + 1):
                if np.array_equal(source[:, top:top + ch, left:left + cw], s):
                    hits.append((top, left, flipped))
    return hits


def test_augment_crop_is_a_window_of_the_input_with_standardization():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (64, 3, 12, 11), dtype=torch.uint8, generator=g)
    aug = DeviceAugment((8, 7), generator=torch.Generator().manual_seed(1))
    out = aug(x)
    assert out.dtype == torch.float32 and tuple(out.shape) == (64, 3, 8, 7)
    assert out.min() >= -127.5 / 128 and out.max() <= 127.5 / 128
    pixels = (out * 128 + 127.5).round()
    assert torch.allclose(out, (pixels - 127.5) / 128)  # exactly (x - 127.5) / 128
    tops, lefts, flips = [], [], []
    for i in range(64):
        hits = _find_window(pixels[i].to(torch.uint8).numpy(), x[i].numpy())
        assert len(hits) == 1, hits
        top, left, flipped = hits[0]
        tops.append(top), lefts.append(left), flips.append(flipped)
    # offsets cover the valid range (4 x 4 positions) and nothing else
    assert set(tops) == set(range(5)) and set(lefts) == set(range(5))
    assert 16 <= sum(flips) <= 48
    assert not torch.equal(aug(x), out)  # fresh draws every call


def test_augment_flips_about_half():
    x = torch.arange(6, dtype=torch.uint8).view(1, 1, 1, 6).expand(4000, 3, 1, 6).contiguous()
    out = DeviceAugment((1, 6))(x)
    row = (torch.arange(6.0) - 127.5) / 128
    flipped = out[:, 0, 0, 0] > out[:, 0, 0, 5]
    assert 0.45 < flipped.float().mean() < 0.55  # +-4.5 sigma of a fair coin over 4000 draws
    assert (out[flipped] == row.flip(0)).all() and (out[~flipped] == row).all()
    assert (DeviceAugment((1, 6), flip=False)(x) == row).all()  # never flipped


def test_augment_eval_is_deterministic_centre_crop():
    x = torch.randint(0, 256, (5, 3, 10, 9), dtype=torch.uint8)
    aug = DeviceAugment(6, train=False, brightness=0.5)
    out = aug(x)
    expected = (x[:, :, 2:8, 1:7].float() - 127.5) / 128
    assert torch.equal(out, expected) and torch.equal(aug(x), out)
    train_mode = DeviceAugment(6)
    train_mode.eval()
    assert torch.equal(train_mode(x), expected)
    full = DeviceAugment((10, 9), train=False)(x)
    assert torch.equal(full, (x.float() - 127.5) / 128)
    as_float = x.float()
    before = as_float.clone()
    DeviceAugment((10, 9), brightness=0.1)(as_float)  # a float batch is not modified in place
    assert torch.equal(as_float, before)


def test_augment_reproducible_with_generator_and_options():
    x = torch.randint(0, 256, (16, 3, 20, 20), dtype=torch.uint8)
    a = DeviceAugment(16, generator=torch.Generator().manual_seed(5))(x)
    b = DeviceAugment(16, generator=torch.Generator().manual_seed(5))(x)
    assert torch.equal(a, b)
    resized = DeviceAugment(16, output_size=8, train=False)(x)
    assert tuple(resized.shape) == (16, 3, 8, 8)
    jitter = DeviceAugment(16, brightness=0.2, contrast=0.3, flip=False)
    out = jitter(x)
    assert out.min() >= -127.5 / 128 and out.max() <= 127.5 / 128  # clamped to the pixel range
    plain = DeviceAugment(16, flip=False, generator=torch.Generator().manual_seed(5))(x)
    assert not torch.allclose(out.mean(dim=(1, 2, 3)), plain.mean(dim=(1, 2, 3)), atol=1e-3)
    cl = DeviceAugment(16, channels_last=True)(x)
    assert cl.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="larger"):
        DeviceAugment(21)(x)
    with pytest.raises(ValueError, match="N x 3"):
        DeviceAugment(4)(x[0])


def test_augment_affine_identity_draw_is_the_centre_crop():
    """Scale/rotate on, but a draw of zoom 1, angle 0, no shift, no flip: the centre crop."""
    x = torch.randint(0, 256, (6, 3, 20, 20), dtype=torch.uint8)
    aug = DeviceAugment(12, scale=0.2, rotate=15)
    aug._rand = lambda n, device: torch.full((n,), 0.5)  # midpoints: zoom 1, angle 0, centred; 0.5 -> no flip
    expected = (x[:, :, 4:16, 4:16].float() - 127.5) / 128
    torch.testing.assert_close(aug(x), expected, atol=1e-5, rtol=0)


def test_augment_affine_turns_scales_and_mirrors():
    # One bright pixel right of the centre: where it lands shows the transform.
    x = torch.zeros(1, 3, 21, 21, dtype=torch.uint8)
    x[0, :, 10, 14] = 255
    aug = DeviceAugment(21, scale=0.5, rotate=90)

    def landing(u: list[float]) -> tuple[int, int]:
        aug._rand = lambda n, device: torch.tensor(u)
        out = aug(x)[0, 0]
        return divmod(int(out.argmax()), out.shape[1])

    assert landing([0.5, 0.5, 0.5, 0.5, 0.9]) == (10, 14)  # identity
    assert landing([0.5, 0.5, 0.5, 0.5, 0.1]) == (10, 6)   # mirrored
    row, col = landing([0.5, 1.0, 0.5, 0.5, 0.9])           # turned by the full 90 degrees
    assert col == 10 and row in (6, 14)
    row, col = landing([0.0, 0.5, 0.5, 0.5, 0.9])           # window zoomed to 0.5: content twice as far
    assert row == 10 and col in (17, 18)
    out = DeviceAugment(12, output_size=6, scale=0.1, rotate=5, channels_last=True)(
        torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8))
    assert out.shape == (3, 3, 6, 6) and out.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="scale"):
        DeviceAugment(12, scale=1.5)


def test_augment_affine_is_off_in_eval_mode():
    x = torch.randint(0, 256, (4, 3, 10, 10), dtype=torch.uint8)
    aug = DeviceAugment(6, scale=0.3, rotate=30, train=False)
    assert torch.equal(aug(x), (x[:, :, 2:8, 2:8].float() - 127.5) / 128)


def test_augment_random_erase_blanks_one_rectangle_per_chosen_sample():
    x = torch.full((400, 3, 20, 20), 255, dtype=torch.uint8)
    out = DeviceAugment(20, erase=1.0, flip=False)(x)
    blank = out[:, 0] == 0  # erased pixels read mid-grey; the rest stays white
    assert torch.equal(blank, (out == 0).all(dim=1)) and (out[~(out == 0)] > 0.99).all()
    for mask in blank[:50]:
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        box = mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        assert box.all() and int(mask.sum()) == box.numel()  # one solid rectangle
    fraction = blank.float().mean(dim=(1, 2))
    assert fraction.min() >= 0.0025 and fraction.max() <= 0.3 and 0.08 < fraction.mean() < 0.18
    half = (DeviceAugment(20, erase=0.5)(x) == 0).any(dim=(1, 2, 3)).float().mean()
    assert 0.4 < half < 0.6
    assert not (DeviceAugment(20, erase=1.0, train=False)(x) == 0).any()  # off in evaluation
    with pytest.raises(ValueError, match="erase"):
        DeviceAugment(20, erase=2.0)


def test_gather_and_copy_crop_paths_agree():
    """The accelerator path (one gather) and the CPU path (slices) give identical windows."""
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 256, (50, 3, 13, 17), dtype=torch.uint8, generator=g)
    top = torch.randint(0, 13 - 9 + 1, (50,), generator=g)
    left = torch.randint(0, 17 - 11 + 1, (50,), generator=g)
    flip = torch.rand(50, generator=g) < 0.5
    a = crop_flip_gather(x, top, left, flip, 9, 11)
    b = crop_flip_copy(x, top, left, flip, 9, 11)
    assert torch.equal(a, b)
    for i in (0, int(flip.nonzero()[0])):
        window = x[i, :, top[i]:top[i] + 9, left[i]:left[i] + 11]
        assert torch.equal(a[i], window.flip(2) if flip[i] else window)


# --- class folders and per-channel normalization (classification) ---------------------

def test_scan_class_folders_matches_extensions_case_insensitively(tmp_path: Path):
    """ImageNet names its files .JPEG; the scan and its labels must not care about case."""
    root = tmp_path / "train"
    for wnid in ("n02", "n01"):
        for i in range(2):
            _write(root / wnid / f"{wnid}_{i}.JPEG", np.zeros((8, 8, 3), np.uint8))
    index = scan_class_folders(root)
    assert index.class_names == ["n01", "n02"] and index.labels == [0, 0, 1, 1]
    assert all(p.endswith(".JPEG") for p in index.paths)
    assert scan_class_folders(root, classes={"n02"}).class_names == ["n02"]
    with pytest.raises(UserError, match="not a directory; run the prepare step"):
        scan_class_folders(tmp_path / "missing", remedy="run the prepare step")


def test_augment_per_channel_mean_std_is_torchvision_normalize():
    x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    out = DeviceAugment(8, train=False, mean=IMAGENET_MEAN, std=IMAGENET_STD)(x)
    # torchvision's ToTensor + Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(out, (x.float() / 255 - mean) / std, atol=1e-5, rtol=0)
    # erased rectangles read as the mean colour: 0 after normalization in every channel
    erased = DeviceAugment(8, erase=1.0, flip=False, mean=IMAGENET_MEAN, std=IMAGENET_STD)(
        torch.full((8, 3, 8, 8), 255, dtype=torch.uint8))
    assert ((erased == 0).all(dim=1) == (erased == 0).any(dim=1)).all() and (erased == 0).any()
    with pytest.raises(ValueError, match="three"):
        DeviceAugment(8, mean=(1.0, 2.0))
    with pytest.raises(ValueError, match="positive"):
        DeviceAugment(8, std=0.0)
