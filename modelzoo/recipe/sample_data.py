"""A tiny generated ImageFolder for trying a classification recipe anywhere (synthetic data).

    python -m modelzoo.recipe.sample_data data/tiny-imagefolder

writes ``train/<class>/*.png`` and ``val/<class>/*.png`` (the layout of torchvision's
ImageFolder and the PyTorch ImageNet example): each class a colour with noise, so a network
can learn something in a few steps. Files already there are kept (a rerun writes nothing).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from modelzoo.store.records import atomic_writer


def write_image_folder(root: Path, classes: int = 2, train_per_class: int = 8, val_per_class: int = 4,
                       size: int = 32, seed: int = 0) -> int:
    """Write the set under ``root``; returns the images written (0 when all were there)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    colours = rng.integers(30, 226, size=(classes, 3))
    written = 0
    for split, count in (("train", train_per_class), ("val", val_per_class)):
        for label in range(classes):
            folder = Path(root) / split / f"class{label:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                noise = rng.normal(0, 25, size=(size, size, 3))
                pixels = np.clip(colours[label] + noise, 0, 255).astype("uint8")
                path = folder / f"{index:04d}.png"
                if path.exists():
                    continue
                with atomic_writer(path) as handle:
                    Image.fromarray(pixels).save(handle, format="PNG")
                written += 1
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Write a tiny synthetic ImageFolder (train/ and val/).")
    parser.add_argument("root", type=Path)
    parser.add_argument("--classes", type=int, default=2)
    parser.add_argument("--train-per-class", type=int, default=8)
    parser.add_argument("--val-per-class", type=int, default=4)
    args = parser.parse_args(argv)
    written = write_image_folder(args.root, args.classes, args.train_per_class, args.val_per_class)
    print(f"{written} images written under {args.root} (synthetic)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
