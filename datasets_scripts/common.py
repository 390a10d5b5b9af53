"""The conversion pipeline every corpus shares: release rows -> checks -> LIQE labels -> splits -> folder.

A converter module only knows its release: it defines a ``CorpusSpec`` and a function
``read_release(root) -> OfficialRelease`` that reads the official annotation files into rows of the
shared schema (``image`` = absolute file path, ``image_id`` = path relative to the release root, the
way the LIQE lists write it). ``convert_corpus`` does the rest:

1. every image named by the annotation files (and by the LIQE lists) must exist: else an error
   listing the missing ones; files on disk that nothing names are reported (a warning + card note);
2. with the LIQE lists: rows get their scene labels (and, for authentic corpora, their distortion
   labels); the list MOS must equal the official MOS after the direction rules; the 10 sessions
   become split tables. Without them: the official split, else a seeded 70/10/20 split (grouped by
   reference image for synthetic corpora);
3. ``export.write_corpus`` writes the folder, ``export.push_to_hub`` optionally publishes it.
"""

import logging
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from modeling_liqe.image_processing_liqe import IMAGE_EXTENSIONS

from .card import read_notice
from .export import listed, publish_privately_by_default, push_to_hub, write_corpus
from .liqe_labels import load_liqe_labels
from .splits import DEFAULT_SEED, liqe_session_name, seeded_split

logger = logging.getLogger("datasets_scripts")



class ConversionError(ValueError):
    """The release on disk or the LIQE lists do not allow a correct conversion (the message says why)."""


@dataclass
class CorpusSpec:
    """Fixed facts about one corpus that the shared pipeline needs."""

    name: str  # corpus id, the ``corpus`` column: "live", "csiq", ...
    card: object  # card.CorpusCard
    marker: str  # a file or folder every release root holds, relative to it
    root_names: tuple = ()  # usual names of the release folder inside a download folder
    image_dirs: tuple = ()  # folders (relative to root) whose image files should all be rows
    synthetic: bool = False  # distorted copies of reference images: split by reference
    liqe_folder: str = None  # corpus folder inside the LIQE ``IQA_Database``
    liqe_prefix: str = None  # file prefix of the LIQE lists
    mos_tolerance: float = 1e-5  # allowed |official mos - LIQE list mos| (the lists print 6 decimals)


@dataclass
class OfficialRelease:
    """What a converter read from the official release."""

    root: Path
    rows: list  # schema rows, ``image`` = absolute path
    excluded: dict = field(default_factory=dict)  # image_id -> why it is deliberately not a row
    official_split: dict = None  # image_id -> split, where the release has one
    notes: list = field(default_factory=list)  # facts about this release for the card


@dataclass
class ConversionResult:
    out_dir: Path
    num_rows: int
    split_counts: dict  # {scheme: {split: rows}}
    default_split: str
    reports: list  # what was reported (also logged and written into the card)


def resolve_root(root, spec):
    """The release folder: ``root`` itself or one of its usual sub-folders holding ``spec.marker``."""
    root = Path(root).expanduser()
    names = [n for n in (*spec.root_names, spec.liqe_folder) if n]
    for candidate in [root] + [root / name for name in names]:
        if (candidate / spec.marker).exists():
            return candidate.resolve()
    raise ConversionError(
        f"{root}: not a {spec.card.pretty_name} release: {spec.marker} is neither there nor in "
        f"{', '.join(str(root / n) for n in names) or 'a sub-folder'}"
    )


class CaseInsensitiveFiles:
    """Find a release's files when their case differs from the annotation's (``.JPG`` vs ``.jpg``)."""

    def __init__(self, root):
        self.root = Path(root)
        self._listings = {}

    def find(self, image_id):
        path = self.root / image_id
        if path.is_file():
            return path
        folder = path.parent
        if folder not in self._listings:
            self._listings[folder] = {p.name.lower(): p for p in folder.iterdir()} if folder.is_dir() else {}
        return self._listings[folder].get(path.name.lower())


def scan_images(root, image_dirs):
    """Relative ids of the image files directly inside ``image_dirs`` (hidden files skipped)."""
    found = set()
    for folder in image_dirs:
        directory = Path(root) / folder
        if not directory.is_dir():
            continue
        for entry in os.scandir(directory):
            if entry.is_file() and not entry.name.startswith(".") and Path(entry.name).suffix.lower() in IMAGE_EXTENSIONS:
                found.add(f"{folder}/{entry.name}" if folder not in ("", ".") else entry.name)
    return found


def load_mat(path, *names):
    """Variables ``names`` of a MATLAB file, with errors that name the file and the variable."""
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"{path}: annotation file is missing")
    try:
        content = scipy.io.loadmat(str(path))
    except NotImplementedError:
        raise ConversionError(f"{path}: MATLAB v7.3 (HDF5) file; re-save it as v7 or earlier") from None
    except Exception as error:
        raise ConversionError(f"{path}: cannot read MATLAB file ({error})") from None
    absent = [name for name in names if name not in content]
    if absent:
        present = sorted(k for k in content if not k.startswith("__"))
        raise ConversionError(f"{path}: no variable {', '.join(absent)} (it holds {present})")
    return [content[name] for name in names]


def mat_numbers(array, where):
    """A MATLAB numeric vector (1xN or Nx1) as a list of floats."""
    import numpy as np

    try:
        values = np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConversionError(f"{where}: expected a numeric vector") from None
    if values.ndim > 2 or (values.ndim == 2 and min(values.shape) > 1):
        raise ConversionError(f"{where}: expected a vector, got shape {values.shape}")
    return values.ravel().tolist()


def mat_strings(array, where):
    """A MATLAB cell vector of strings as a list of str."""
    import numpy as np

    array = np.asarray(array)
    if array.ndim > 2 or (array.ndim == 2 and min(array.shape) > 1):
        raise ConversionError(f"{where}: expected a cell vector, got shape {array.shape}")
    strings = []
    for position, item in enumerate(array.ravel(), start=1):
        while isinstance(item, np.ndarray):  # cells nest: [array(['name.bmp'])]
            if item.size == 0:  # an empty MATLAB string
                item = ""
                break
            if item.size != 1:
                raise ConversionError(f"{where}: entry {position} is not a single string ({item!r})")
            item = item.ravel()[0]
        if not isinstance(item, str):
            raise ConversionError(f"{where}: entry {position} is not a string ({item!r})")
        strings.append(item.strip())
    return strings


def parse_number(text, where, *, allow_empty=False):
    """float of a spreadsheet or csv cell; a clear error for anything else (NaN included)."""
    if isinstance(text, str):
        text = text.strip().strip('"')
        if text == "" and allow_empty:
            return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ConversionError(f"{where}: {text!r} is not a number") from None
    if math.isnan(value) or math.isinf(value):
        raise ConversionError(f"{where}: {text!r} is not a finite number")
    return value


def _report(reports, message):
    logger.warning(message)
    reports.append(message)


def attach_liqe_labels(spec, rows, labels, reports):
    """Rows kept (those the lists name) with LIQE scenes and labels; errors for disagreeing MOS."""
    by_id = {row["image_id"]: row for row in rows}
    not_in_release = sorted(set(labels.labels) - set(by_id))
    if not_in_release:
        raise ConversionError(
            f"{labels.splits_dir}: {len(not_in_release)} images named by the LIQE lists are on disk but "
            f"absent from the official annotation files: {listed(not_in_release)}"
        )
    unlisted = [row["image_id"] for row in rows if row["image_id"] not in labels.labels]
    if unlisted:
        _report(reports, f"{len(unlisted)} annotated images are named by no LIQE list and were left out: {listed(unlisted, 5)}")
    kept, mos_mismatch, relabelled = [], [], Counter()
    for row in rows:
        label = labels.labels.get(row["image_id"])
        if label is None:
            continue
        if abs(row["mos"] - label.mos) > spec.mos_tolerance + 1e-9 * abs(label.mos):
            mos_mismatch.append(f"{row['image_id']} (release {row['mos']:.6f}, list {label.mos:.6f})")
        row = dict(row, scenes=list(label.scenes))
        if row.get("distortion_fine") is None:
            row["distortion_fine"] = label.distortion_fine  # authentic corpora: the authors' label
        elif row["distortion_fine"] != label.distortion_fine:
            relabelled[(label.distortion_fine, row["distortion_fine"])] += 1  # the release's own type wins
        kept.append(row)
    if mos_mismatch:
        raise ConversionError(
            f"{labels.splits_dir}: the LIQE MOS of {len(mos_mismatch)} images differs from the official MOS after "
            f"the direction rules (tolerance {spec.mos_tolerance}): {listed(mos_mismatch, 10)}"
        )
    for (list_label, release_label), count in sorted(relabelled.items()):
        _report(
            reports,
            f"the LIQE lists label {count} images `{list_label}` that the release marks as `{release_label}`; "
            f"they keep the release's label `{release_label}`",
        )
    return kept


def convert_corpus(
    spec,
    release,
    out_dir,
    *,
    liqe_labels=None,
    seed=DEFAULT_SEED,
    overwrite=False,
    push_to_hub_repo=None,
    public=False,
    token=None,
    max_shard_bytes=None,
):
    """Check ``release`` (an ``OfficialRelease``), attach the LIQE lists if given, split, write, push.

    ``liqe_labels``: the authors' ``IQA_Database`` folder, or None. ``seed``: of the seeded split.
    ``push_to_hub_repo``: "ORG/NAME" to upload to; the repo is private unless ``public`` is set or
    the corpus's terms allow redistribution. Returns a ``ConversionResult``.
    """
    if liqe_labels and not spec.liqe_folder:
        raise ConversionError(f"the LIQE authors ship no label lists for {spec.card.pretty_name}; --liqe-labels does not apply")
    root = Path(release.root)
    reports = []
    rows = [dict(row, corpus=spec.name) for row in release.rows]
    files = CaseInsensitiveFiles(root)
    labels = load_liqe_labels(liqe_labels, spec.liqe_folder, spec.liqe_prefix) if liqe_labels else None

    named = {row["image_id"] for row in rows} | (set(labels.labels) if labels else set())
    missing = sorted(image_id for image_id in named if files.find(image_id) is None)
    if missing:
        raise ConversionError(
            f"{root}: {len(missing)} images named by the annotation files"
            f"{' or the LIQE lists' if labels else ''} are missing on disk: {listed(missing)}"
        )
    for row in rows:
        row["image"] = str(files.find(row["image_id"]))

    if labels:
        rows = attach_liqe_labels(spec, rows, labels, reports)
    kept = {row["image_id"] for row in rows}
    on_disk = {image_id.lower(): image_id for image_id in scan_images(root, spec.image_dirs)}
    accounted = {image_id.lower() for image_id in named | set(release.excluded)}
    unnamed = sorted(on_disk[key] for key in set(on_disk) - accounted)
    if unnamed:
        what = "the annotation files nor the LIQE lists" if labels else "the annotation files"
        _report(reports, f"{len(unnamed)} image files on disk are named by neither {what}; ignored: {listed(unnamed, 5)}")

    if labels:
        splits = {
            liqe_session_name(session): {i: s for i, s in assignment.items() if i in kept}
            for session, assignment in labels.sessions.items()
        }
        default_split = liqe_session_name(min(labels.sessions))
    elif release.official_split:
        splits, default_split = {}, "official"
    else:
        groups = [row["reference_id"] for row in rows] if spec.synthetic else None
        splits = {"seeded": seeded_split([row["image_id"] for row in rows], groups, seed=seed)}
        default_split = "seeded"
    if release.official_split:
        splits["official"] = {i: s for i, s in release.official_split.items() if i in kept}

    notes = list(release.notes)
    if "seeded" in splits:
        notes.append(f"`seeded`: random 70/10/20 split, seed {seed}" + (", grouped by reference image" if spec.synthetic else ""))
    notes += reports
    split_counts = write_corpus(
        out_dir,
        rows,
        splits,
        spec.card,
        default_split=default_split,
        notes=notes,
        notice_text=read_notice(root, spec.card.notice_file),
        overwrite=overwrite,
        **({"max_shard_bytes": max_shard_bytes} if max_shard_bytes else {}),
    )
    if push_to_hub_repo:
        private = not public and publish_privately_by_default(spec.card)
        if private:
            logger.warning("%s: the terms do not allow public redistribution; creating %s as a private repo", spec.name, push_to_hub_repo)
        push_to_hub(out_dir, push_to_hub_repo, private=private, token=token)
    return ConversionResult(Path(out_dir), len(rows), split_counts, default_split, reports)


def convert_release(spec, read_release, root, out_dir, **options):
    """``read_release`` the release under ``root`` (or its usual sub-folder), then ``convert_corpus``."""
    return convert_corpus(spec, read_release(resolve_root(root, spec)), out_dir, **options)
