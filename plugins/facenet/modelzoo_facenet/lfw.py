"""The LFW files: pairs.txt and people.txt, the pairs' image files, the unrestricted split.

What the files mean is fixed by LFW (docs/PROTOCOLS.md#lfw-verification); scoring the
pairs is :mod:`modelzoo_facenet.lfw_protocol`.

Public API
----------
- :func:`read_pairs` / :class:`Pair`: parse ``pairs.txt`` (View 2, ``10 300`` header) or a
  View 1 file (``pairsDevTest.txt``, a single count on the first line).
- :func:`resolve_pairs`: map pairs to image files ``name/name_%04d.ext``.
- :func:`read_people`: parse ``people.txt`` (View 2's 10 disjoint sets of people).
- :func:`unrestricted_split` / :class:`Split`: train people vs. test pairs for the
  unrestricted protocol with LFW itself as training data.

Fold labels: :attr:`Pair.fold` is LFW's own numbering, 1..10, like the people.txt sets.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from modelzoo.contract.api import UserError

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class Pair:
    """One line of a pairs file. ``index1``/``index2`` are LFW's 1-based image numbers;
    ``fold`` is 1-based (View 1 files have a single fold, 1); ``line`` is the 1-based line
    number in the file, for messages."""

    name1: str
    index1: int
    name2: str
    index2: int
    issame: bool
    fold: int
    line: int

    @property
    def key1(self) -> tuple[str, int]:
        return (self.name1, self.index1)

    @property
    def key2(self) -> tuple[str, int]:
        return (self.name2, self.index2)


def _numbered_lines(path: Path) -> list[tuple[int, list[str]]]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UserError(f"LFW file not found: {path}; check the LFW data folder") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read LFW file {path}: {exc}; check the file") from None
    # Blank lines (a trailing newline, CRLF leftovers) are skipped; tokens split on any
    # whitespace, so tab- and space-separated files both parse.
    return [(n, line.split()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _positive_int(token: str, path: Path, line: int, what: str) -> int:
    try:
        value = int(token)
    except ValueError:
        value = -1
    if value < 1:
        raise UserError(f"{path}:{line}: {what} {token!r} is not a positive integer; "
                        "the file is malformed, get the original from the LFW site")
    return value


def read_pairs(path: str | Path) -> list[Pair]:
    """Parse a LFW pairs file.

    View 2 (``pairs.txt``): first line ``n_folds n_per_class`` (``10 300``), then per fold
    ``n_per_class`` same-person lines ``name i j`` and ``n_per_class`` different-person
    lines ``name1 i name2 j``. A pair's fold is its position: lines
    ``k*2*n_per_class .. (k+1)*2*n_per_class-1`` are fold ``k+1``.
    View 1 (``pairsDevTrain.txt``/``pairsDevTest.txt``): first line ``n``, then ``n``
    same and ``n`` different lines, all in fold 1.

    Raises UserError (with file and line number) on a malformed line or a wrong line count.
    """
    path = Path(path)
    lines = _numbered_lines(path)
    if not lines:
        raise UserError(f"{path} is empty; expected a LFW pairs file (first line '10 300')")
    header_line, header = lines[0]
    if len(header) == 2:
        n_folds = _positive_int(header[0], path, header_line, "number of folds")
        n_per_class = _positive_int(header[1], path, header_line, "pairs per class")
    elif len(header) == 1:
        n_folds, n_per_class = 1, _positive_int(header[0], path, header_line, "pairs per class")
    else:
        raise UserError(f"{path}:{header_line}: header {' '.join(header)!r} is neither "
                        "'n_folds n_per_class' (View 2) nor 'n' (View 1); not a LFW pairs file")
    body = lines[1:]
    expected = 2 * n_folds * n_per_class
    if len(body) != expected:
        raise UserError(f"{path}: header promises {expected} pairs ({n_folds} folds x "
                        f"2 x {n_per_class}) but the file has {len(body)} pair lines; "
                        "the file is truncated or malformed")
    pairs = []
    for position, (line_no, tokens) in enumerate(body):
        fold = position // (2 * n_per_class) + 1
        if len(tokens) == 3:
            name, i, j = tokens
            pairs.append(Pair(name, _positive_int(i, path, line_no, "image number"),
                              name, _positive_int(j, path, line_no, "image number"),
                              True, fold, line_no))
        elif len(tokens) == 4:
            name1, i, name2, j = tokens
            pairs.append(Pair(name1, _positive_int(i, path, line_no, "image number"),
                              name2, _positive_int(j, path, line_no, "image number"),
                              False, fold, line_no))
        else:
            raise UserError(f"{path}:{line_no}: expected 'name i j' or 'name1 i name2 j', "
                            f"got {len(tokens)} fields; the pairs file is malformed")
    return pairs


def read_people(path: str | Path) -> list[list[tuple[str, int]]]:
    """Parse ``people.txt``: first line the number of sets; then per set a line with its
    number of people N followed by N lines ``name count``. View 1 people files (a single
    count, then the names) parse as one set. Returns one ``[(name, n_images), ...]`` list
    per set, in file order (set k of LFW is element k-1)."""
    path = Path(path)
    lines = _numbered_lines(path)
    if not lines:
        raise UserError(f"{path} is empty; expected a LFW people file")

    def count_at(pos: int, what: str) -> int:
        line_no, tokens = lines[pos]
        if len(tokens) != 1:
            raise UserError(f"{path}:{line_no}: expected {what} (one integer), got "
                            f"{' '.join(tokens)!r}; the people file is malformed")
        return _positive_int(tokens[0], path, line_no, what)

    first = count_at(0, "the number of sets")
    # View 1 people files have no set count: the first number counts people directly.
    view1 = len(lines) == first + 1 and first > 0 and len(lines[1][1]) == 2
    n_sets = 1 if view1 else first
    pos = 0 if view1 else 1
    sets: list[list[tuple[str, int]]] = []
    for _ in range(n_sets):
        if pos >= len(lines):
            raise UserError(f"{path}: ends after {len(sets)} of {n_sets} sets; "
                            "the people file is truncated")
        n_people = count_at(pos, "people in a set")
        pos += 1
        people = []
        for _ in range(n_people):
            if pos >= len(lines):
                raise UserError(f"{path}: ends inside set {len(sets) + 1}; "
                                "the people file is truncated")
            line_no, tokens = lines[pos]
            if len(tokens) != 2:
                raise UserError(f"{path}:{line_no}: expected 'name count', got "
                                f"{len(tokens)} fields; the people file is malformed")
            people.append((tokens[0], _positive_int(tokens[1], path, line_no, "image count")))
            pos += 1
        sets.append(people)
    if pos != len(lines):
        raise UserError(f"{path}:{lines[pos][0]}: unexpected extra lines after "
                        f"{n_sets} sets; the people file is malformed")
    return sets


def image_stem(name: str, index: int) -> str:
    """Relative path of a LFW image without extension: ``name/name_0001``."""
    return f"{name}/{name}_{index:04d}"


def resolve_pairs(
    pairs: Sequence[Pair],
    image_dir: str | Path,
    allow_missing: bool = False,
    exts: Sequence[str] = (".png", ".jpg", ".jpeg"),
) -> tuple[list[str], list[str], np.ndarray, np.ndarray, list[str]]:
    """Map pairs to image files ``image_dir/name/name_%04d<ext>`` (first ``ext`` found).

    Returns ``(paths1, paths2, issame, fold, missing)``: the kept pairs' image paths,
    ``issame`` (bool array), ``fold`` (the pairs' 1-based folds, int array) and the sorted
    stems (``name/name_0001``) of the images not found. Unless ``allow_missing``, any
    missing image raises UserError with the count and the first few; with it, the pairs
    with a missing image are dropped and a warning says how many.
    """
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise UserError(f"LFW image folder not found: {image_dir}; "
                        "point it at the folder holding one sub-folder per person")
    found: dict[tuple[str, int], Optional[str]] = {}

    def lookup(key: tuple[str, int]) -> Optional[str]:
        if key not in found:
            stem = image_dir / image_stem(*key)
            found[key] = next((str(stem) + ext for ext in exts
                               if Path(str(stem) + ext).is_file()), None)
        return found[key]

    paths1, paths2, issame, fold = [], [], [], []
    for pair in pairs:
        p1, p2 = lookup(pair.key1), lookup(pair.key2)
        if p1 is None or p2 is None:
            continue
        paths1.append(p1)
        paths2.append(p2)
        issame.append(pair.issame)
        fold.append(pair.fold)
    missing = sorted(image_stem(*key) for key, value in found.items() if value is None)
    if missing:
        dropped = len(pairs) - len(paths1)
        first = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        summary = (f"{len(missing)} of {len(found)} LFW images missing under {image_dir} "
                   f"(tried {'/'.join(exts)}; first: {first}), in {dropped} of "
                   f"{len(pairs)} pairs")
        if not allow_missing:
            raise UserError(f"{summary}; check the image folder (an aligned folder must "
                            "hold every pair image) or allow missing images to drop "
                            "those pairs")
        log.warning("%s; dropping those pairs", summary)
    return (paths1, paths2, np.asarray(issame, dtype=bool),
            np.asarray(fold, dtype=np.int64), missing)


# --------------------------------------------------------------------------- unrestricted


@dataclass
class Split:
    """The unrestricted protocol's split for one held-out fold (1-based ``test_fold``).

    ``train_people``: the people of the other sets of people.txt (training identities);
    ``train_images``: their image count; ``test_people``: the people of set
    ``test_fold``; ``test_pairs``: the pairs of fold ``test_fold`` of pairs.txt.
    """

    test_fold: int
    train_people: frozenset[str]
    train_images: int
    test_people: frozenset[str]
    test_pairs: list[Pair]

    @property
    def pair_people(self) -> set[str]:
        return {p.name1 for p in self.test_pairs} | {p.name2 for p in self.test_pairs}

    def check_disjoint(self) -> None:
        """Raise UserError if a person in a test pair is also a training person."""
        leaked = sorted(self.pair_people & self.train_people)
        if leaked:
            raise UserError(f"{len(leaked)} people of LFW fold {self.test_fold}'s pairs are "
                            f"also in the training sets (first: {', '.join(leaked[:5])}); "
                            "people.txt and pairs.txt do not match, use the official files")


def unrestricted_split(people_sets: Sequence[Sequence[tuple[str, int]]],
                       pairs: Sequence[Pair], test_fold: int) -> Split:
    """Train on the people of every people.txt set but ``test_fold`` (1-based), test on
    the pairs of fold ``test_fold``. Call :meth:`Split.check_disjoint` to verify that no
    test-pair person is a training person."""
    n_sets = len(people_sets)
    if not 1 <= test_fold <= n_sets:
        raise UserError(f"test fold {test_fold} is out of range; LFW has folds 1..{n_sets}")
    pair_folds = sorted({p.fold for p in pairs})
    if pair_folds != list(range(1, n_sets + 1)):
        raise UserError(f"the pairs have {len(pair_folds)} folds but people.txt has {n_sets} "
                        "sets; use View 2's pairs.txt with its people.txt")
    train = [person for k, people in enumerate(people_sets, 1) if k != test_fold
             for person in people]
    return Split(
        test_fold=test_fold,
        train_people=frozenset(name for name, _ in train),
        train_images=sum(count for _, count in train),
        test_people=frozenset(name for name, _ in people_sets[test_fold - 1]),
        test_pairs=[p for p in pairs if p.fold == test_fold],
    )
