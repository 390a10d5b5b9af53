"""Write a converted corpus to its standard folder, and publish that folder on the Hub.

``write_corpus`` is the one writer every converter uses (LIVE ... KonIQ here; SPAQ, TID2013,
AGIQA-3K and the synthetic corpus later). It takes rows in the shared schema with ``image`` given as
a file path, the split schemes, and a ``CorpusCard``, and writes (layout detailed in ``splits.py``)::

    OUT_DIR/README.md                                   card; YAML configs `default` and `splits`
    OUT_DIR/data/<split>-NNNNN-of-MMMMM.parquet         rows with the image bytes embedded, once
    OUT_DIR/splits/<scheme>.parquet                     row_id, image_id, split

The folder is at once a parquet dataset with embedded images, a Hub dataset repo that
``datasets.load_dataset(OUT_DIR)`` reads offline, and what ``push_to_hub`` uploads as is.
``splits.load_session`` gives any scheme as a ``DatasetDict``, which ``save_to_disk`` /
``load_from_disk`` round-trip (the bytes travel with it).
"""

import io
import os
import shutil
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .card import REDISTRIBUTION_ALLOWED, REDISTRIBUTION_WITH_NOTICE, render_card
from .schema import FEATURES, distortion_class_id
from .splits import DATA_DIR, SPLITS, SPLITS_DIR

DEFAULT_MAX_SHARD_BYTES = 500 * 1024 * 1024  # the Hub's usual parquet shard size
OPTIONAL_COLUMNS = ("mos_std", "mos_raw", "reference_id", "distortion_fine", "distortion_level")
MAX_LISTED = 20  # problems listed by name in an error message


class ExportError(ValueError):
    """The rows, splits or images cannot be written as a corpus (the message lists what is wrong)."""


def listed(items, limit=MAX_LISTED):
    """'a, b, c' or 'a, b, ... and N more', for error messages."""
    items = list(items)
    shown = ", ".join(str(item) for item in items[:limit])
    return shown + (f", ... and {len(items) - limit} more" if len(items) > limit else "")


def complete_row(row):
    """A row in the schema: optional columns default to None, ``distortion`` follows ``distortion_fine``."""
    for column in ("image", "mos", "corpus", "image_id"):
        if row.get(column) is None:
            raise ExportError(f"row {row.get('image_id')!r}: column {column!r} is required")
    given = {column: row.get(column) for column in OPTIONAL_COLUMNS}
    given.update(
        image=str(row["image"]),
        mos=float(row["mos"]),
        corpus=row["corpus"],
        image_id=row["image_id"],
        distortion=distortion_class_id(row.get("distortion_fine")),
        scenes=list(row.get("scenes") or []),
    )
    return {column: given.get(column, row.get(column)) for column in FEATURES}  # the schema's column order


def _read_and_check_image(path):
    """(bytes, None) for a decodable image, (None, reason) otherwise."""
    from PIL import Image

    try:
        data = Path(path).read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # a full decode: truncated or corrupt files fail here, not at training time
        return data, None
    except Exception as error:  # PIL raises many types for bad files; all mean "unreadable"
        return None, f"{type(error).__name__}: {error}"


def _shards(rows, max_shard_bytes):
    """Consecutive groups of rows whose image files add up to at most ``max_shard_bytes`` (at least one row)."""
    shard, size = [], 0
    for row in rows:
        row_bytes = os.path.getsize(row["image"])
        if shard and size + row_bytes > max_shard_bytes:
            yield shard
            shard, size = [], 0
        shard.append(row)
        size += row_bytes
    if shard:
        yield shard


def _check_splits(image_ids, splits, default_split):
    if default_split not in splits:
        raise ExportError(f"default split {default_split!r} is not among the split schemes {sorted(splits)}")
    known = set(image_ids)
    for name, assignment in splits.items():
        unknown = [image_id for image_id in assignment if image_id not in known]
        if unknown:
            raise ExportError(f"split scheme {name!r} names {len(unknown)} images that are not rows: {listed(unknown)}")
        bad = sorted({split for split in assignment.values() if split not in SPLITS})
        if bad:
            raise ExportError(f"split scheme {name!r} uses unknown split names {bad}; expected {list(SPLITS)}")
    unassigned = [image_id for image_id in image_ids if image_id not in splits[default_split]]
    if unassigned:
        raise ExportError(f"default split {default_split!r} leaves {len(unassigned)} rows out: {listed(unassigned)}")


def _prepare_out_dir(out_dir, overwrite):
    out_dir = Path(out_dir)
    ours = [out_dir / "README.md", out_dir / DATA_DIR, out_dir / SPLITS_DIR]
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise ExportError(f"{out_dir}: output folder is not empty; pass overwrite=True (--overwrite) to replace it")
        others = [p.name for p in out_dir.iterdir() if p not in ours and not p.name.startswith(".")]
        if others:
            raise ExportError(f"{out_dir}: will not overwrite a folder holding files it did not write: {listed(others)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir, ours


def write_corpus(
    out_dir,
    rows,
    splits,
    card,
    *,
    default_split,
    notes=(),
    notice_text=None,
    overwrite=False,
    max_shard_bytes=DEFAULT_MAX_SHARD_BYTES,
    workers=None,
):
    """Write ``rows`` as the standard corpus folder ``out_dir`` and return {scheme: {split: rows}}.

    rows: dicts in the schema (``datasets_scripts.schema.FEATURES``) with ``image`` a file path;
        ``distortion`` is derived from ``distortion_fine``; ``scenes`` are scene names.
    splits: {scheme name: {image_id: "train" | "validation" | "test"}}; the ``default_split`` scheme
        must cover every row and decides the data files; other schemes may cover a subset.
    card: a ``card.CorpusCard``; ``notes`` (this conversion's reports) and ``notice_text`` (the
        release's copyright notice) go into it.
    Every image is decoded once before anything is kept: unreadable files are an error listing them.
    """
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [complete_row(row) for row in rows]
    image_ids = [row["image_id"] for row in rows]
    duplicates = sorted(i for i, count in Counter(image_ids).items() if count > 1)
    if duplicates:
        raise ExportError(f"{len(duplicates)} image ids occur twice: {listed(duplicates)}")
    if not rows:
        raise ExportError("no rows to write")
    _check_splits(image_ids, splits, default_split)
    missing = [row["image"] for row in rows if not os.path.isfile(row["image"])]
    if missing:
        raise ExportError(f"{len(missing)} image files are missing: {listed(missing)}")

    out_dir, ours = _prepare_out_dir(out_dir, overwrite)
    order = {split: index for index, split in enumerate(SPLITS)}
    rows.sort(key=lambda row: order[splits[default_split][row["image_id"]]])  # stable: keeps the release's order
    partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=out_dir))
    try:
        (partial / DATA_DIR).mkdir()
        unreadable = []
        with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
            for split in SPLITS:
                split_rows = [row for row in rows if splits[default_split][row["image_id"]] == split]
                shards = list(_shards(split_rows, max_shard_bytes))
                for index, shard in enumerate(shards):
                    encoded = []
                    for row, (data, problem) in zip(shard, pool.map(_read_and_check_image, [r["image"] for r in shard])):
                        if problem:
                            unreadable.append(f"{row['image']} ({problem})")
                            continue
                        # The stored path is the image id: it names the file without leaking a local folder.
                        encoded.append(dict(row, image={"bytes": data, "path": row["image_id"]}))
                    if unreadable:
                        continue  # keep checking the rest, so the error lists every bad file
                    shard_path = partial / DATA_DIR / f"{split}-{index:05d}-of-{len(shards):05d}.parquet"
                    datasets.Dataset.from_list(encoded, features=FEATURES).to_parquet(str(shard_path))
        if unreadable:
            raise ExportError(f"{len(unreadable)} images cannot be decoded: {listed(unreadable)}")

        (partial / SPLITS_DIR).mkdir()
        row_id = {row["image_id"]: position for position, row in enumerate(rows)}
        split_counts = {}
        for name, assignment in splits.items():
            ids = sorted(assignment, key=row_id.__getitem__)
            table = pa.table(
                {
                    "row_id": pa.array([row_id[i] for i in ids], pa.int32()),
                    "image_id": pa.array(ids, pa.string()),
                    "split": pa.array([assignment[i] for i in ids], pa.string()),
                }
            )
            pq.write_table(table, partial / SPLITS_DIR / f"{name}.parquet")
            split_counts[name] = {split: sum(1 for i in ids if assignment[i] == split) for split in SPLITS}
        (partial / "README.md").write_text(
            render_card(
                card,
                num_rows=len(rows),
                split_counts=split_counts,
                default_split=default_split,
                notes=notes,
                notice_text=notice_text,
            ),
            encoding="utf-8",
        )
        for path in ours:  # replace the previous conversion only once the new one is complete
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
            (partial / path.name).rename(path)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return split_counts


def publish_privately_by_default(card):
    """True unless the corpus's terms allow public redistribution."""
    return card.redistribution not in (REDISTRIBUTION_ALLOWED, REDISTRIBUTION_WITH_NOTICE)


def push_to_hub(out_dir, repo_id, *, private=True, token=None, commit_message=None):
    """Upload a converted corpus folder as the Hub dataset repo ``repo_id`` (huggingface_hub 2.x).

    Creates the repo if needed, then uploads the folder as is, deleting stale ``data/`` and
    ``splits/`` files of an earlier upload. Returns the commit info of ``upload_folder``.
    """
    from huggingface_hub import HfApi

    out_dir = Path(out_dir)
    if not (out_dir / "README.md").is_file() or not (out_dir / DATA_DIR).is_dir():
        raise ExportError(f"{out_dir}: not a converted corpus folder (README.md and {DATA_DIR}/ expected)")
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    return api.upload_folder(
        repo_id=repo_id,
        repo_type="dataset",
        folder_path=str(out_dir),
        commit_message=commit_message or f"Upload {out_dir.name} converted by liqe datasets_scripts",
        allow_patterns=["README.md", f"{DATA_DIR}/*.parquet", f"{SPLITS_DIR}/*.parquet"],
        delete_patterns=[f"{DATA_DIR}/*.parquet", f"{SPLITS_DIR}/*.parquet"],
    )
