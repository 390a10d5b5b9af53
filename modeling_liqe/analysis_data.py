# coding=utf-8
# Copyright 2026 The liqe authors.
"""Image tables for the analyses: a converted corpus (a folder written by `datasets_scripts`) or a plain folder
of images, read as columns with the encoded image bytes, plus the rows of a session's split.

The corpus's parquet files are read directly with pyarrow (no `datasets` Arrow cache copy of the images), in
`row_id` order (train, validation, test data files, each in name order), as `datasets_scripts.splits` defines.
Not part of the Hub remote code.
"""

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cli import collect_paths

LABEL_COLUMNS = ("mos", "corpus", "image_id", "reference_id", "distortion_fine", "distortion", "distortion_level",
                 "scenes")


@dataclass
class ImageTable:
    """Columns of one image set; `mos` is None for an unlabelled folder. `partition` is the data file's split."""

    name: str
    source: str
    image_ids: list
    images: list  # encoded bytes
    mos: np.ndarray = None
    reference_id: list = None
    distortion: np.ndarray = None  # class id, -1 unknown
    distortion_level: np.ndarray = None  # float, NaN unknown
    scenes: list = None  # lists of scene class ids
    partition: list = None
    is_corpus: bool = False
    extra: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.image_ids)

    def content_groups(self):
        """A content key per image (the reference photo for synthetic corpora), or None when unknown."""
        if self.reference_id is None or any(ref is None for ref in self.reference_id):
            return None
        return list(self.reference_id)


def is_converted_corpus(path):
    return (Path(path) / "data").is_dir() and any((Path(path) / "data").glob("*.parquet"))


def resolve_corpus(path):
    """A local folder for a converted corpus folder or a Hub dataset id ("org/name", through the Hub cache)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return path
    if path.count("/") == 1 and not path.startswith((".", "/", "~")):
        from huggingface_hub import snapshot_download

        try:
            return snapshot_download(path, repo_type="dataset")
        except Exception as error:  # offline and not cached, unknown id, ...
            raise ValueError(f"{path}: no such folder, and no Hub dataset snapshot could be found ({error})") from None
    raise ValueError(f"{path}: no such folder")


def load_converted(path):
    """Every row of a converted corpus (folder or Hub dataset id) as an `ImageTable`, in row_id order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from datasets_scripts.splits import SPLITS, data_files

    path = resolve_corpus(path)
    files = data_files(path)
    tables, partition = [], []
    for split in SPLITS:
        for file in files.get(split, []):
            try:
                table = pq.read_table(file)
            except (OSError, pa.ArrowException) as error:
                raise ValueError(f"{file}: cannot read the parquet file ({error})") from None
            missing = [column for column in ("image", "mos", "image_id") if column not in table.column_names]
            if missing:
                raise ValueError(f"{file}: missing column(s) {missing}; not a corpus written by datasets_scripts")
            tables.append(table)
            partition.extend([split] * table.num_rows)
    table = pa.concat_tables(tables, promote_options="default")
    columns = {name: table.column(name).to_pylist() for name in LABEL_COLUMNS if name in table.column_names}
    images = []
    for index, cell in enumerate(table.column("image").to_pylist()):
        data = cell.get("bytes") if isinstance(cell, dict) else None
        if data is None and isinstance(cell, dict) and cell.get("path"):
            data = Path(path, cell["path"]).read_bytes() if Path(path, cell["path"]).is_file() else None
        images.append(data if data is not None else b"")
    corpus_names = sorted({name for name in columns.get("corpus", []) if name})
    distortion = np.array([-1 if value is None else int(value)
                           for value in columns.get("distortion", [None] * len(images))])
    levels = np.array([np.nan if value is None else float(value)
                       for value in columns.get("distortion_level", [None] * len(images))])
    return ImageTable(
        name=corpus_names[0] if len(corpus_names) == 1 else Path(path).name,
        source=os.fspath(path),
        image_ids=columns["image_id"],
        images=images,
        mos=np.array([np.nan if value is None else float(value) for value in columns["mos"]]),
        reference_id=columns.get("reference_id"),
        distortion=distortion,
        distortion_level=levels,
        scenes=[list(value or []) for value in columns.get("scenes", [[]] * len(images))],
        partition=partition,
        is_corpus=True,
        extra={"distortion_fine": columns["distortion_fine"]}
        if columns.get("distortion_fine") and all(value is not None for value in columns["distortion_fine"]) else {},
    )


def load_folder(path):
    """The image files under a folder (recursive, sorted) as an unlabelled `ImageTable`."""
    paths, empty = collect_paths([os.fspath(path)])
    if empty or not paths:
        raise ValueError(f"{path}: no image files found")
    images = []
    for file in paths:
        try:
            images.append(Path(file).read_bytes())
        except OSError as error:
            images.append(b"")  # becomes an error row naming the file, the others go on
            print(f"warning: {file}: cannot read ({error.strerror or error})", file=sys.stderr)
    return ImageTable(name=Path(path).name, source=os.fspath(path),
                      image_ids=[os.path.relpath(file, path) for file in paths], images=images)


def load_images(path):
    """A converted corpus or a plain folder of images."""
    if not os.path.exists(path):
        return load_converted(path)  # a Hub dataset id, or a clear "no such folder"
    return load_converted(path) if is_converted_corpus(path) else load_folder(path)


def split_rows(table, session=None, split="test"):
    """Row indices of `split` ("train", "validation", "test" or "all") in a session of a converted corpus.

    `session`: None (the data files' partition), an int (LIQE session k) or a split-table name ("seeded").
    """
    if split == "all":
        return np.arange(len(table))
    if not table.is_corpus:
        raise ValueError(f"{table.source}: a plain image folder has no splits; use split 'all'")
    if session is None:
        return np.array([index for index, value in enumerate(table.partition) if value == split], dtype=int)
    from datasets_scripts.splits import liqe_session_name, read_split_table

    name = liqe_session_name(session) if str(session).isdigit() else str(session)
    scheme = read_split_table(table.source, name)
    rows = np.array([row for row, value in zip(scheme["row_id"], scheme["split"]) if value == split], dtype=int)
    ids = [table.image_ids[row] for row in rows] if rows.size and rows.max() < len(table) else None
    if ids is None and rows.size:
        raise ValueError(f"{table.source}: split table {name!r} names rows beyond the {len(table)} stored rows")
    expected = [scheme["image_id"][i] for i, value in enumerate(scheme["split"]) if value == split]
    if ids is not None and ids != expected:
        raise ValueError(f"{table.source}: split table {name!r} does not match the stored rows")
    return rows


def sessions_of(path):
    """The LIQE session numbers a converted corpus has split tables for."""
    from datasets_scripts.splits import list_split_tables

    return [int(name.rsplit("_", 1)[1]) for name in list_split_tables(path) if name.startswith("liqe_session_")]


def score_table(cached_scorer, table, rows=None, probabilities=True):
    """Records (see `CachedScorer.score_encoded`) for every image of `table`, in order; with `rows`, only those
    rows are scored and the others get a record with score None and error "not scored"."""
    hashes = table_hashes(table)
    if rows is None:
        return cached_scorer.score_encoded(list(zip(table.image_ids, table.images)), hashes=hashes,
                                           probabilities=probabilities)
    rows = [int(row) for row in rows]
    scored = cached_scorer.score_encoded([(table.image_ids[row], table.images[row]) for row in rows],
                                         hashes=[hashes[row] for row in rows], probabilities=probabilities)
    records = [{"score": None, "quality_probs": None, "scene_probs": None, "distortion_probs": None,
                "hash": hashes[row], "error": "not scored"} for row in range(len(table))]
    for row, record in zip(rows, scored):
        records[row] = record
    return records


def table_hashes(table):
    from .score_cache import content_hash

    if "hashes" not in table.extra:
        table.extra["hashes"] = [content_hash(data) for data in table.images]
    return table.extra["hashes"]


def scores_array(records):
    return np.array([np.nan if record["score"] is None else float(record["score"]) for record in records])


__all__ = ["ImageTable", "load_converted", "load_folder", "load_images", "split_rows", "sessions_of", "score_table",
           "scores_array"]
