"""Splits of a converted corpus: seeded 70/10/20 splits, split tables, and ``load_session``.

Output folder of every converter (see ``export.write_corpus``)::

    OUT_DIR/
      README.md                                 dataset card (YAML: configs, licence, citation)
      data/{train,validation,test}-NNNNN-of-MMMMM.parquet
                                                every row once, images embedded as bytes,
                                                partitioned by the default split
      splits/<name>.parquet                     one light table per split scheme:
                                                row_id (int32), image_id (string), split (string)

``row_id`` is a row's position in the corpus's rows taken in the order train, validation, test
(the data files of each split in name order): ``load_corpus(OUT_DIR)[row_id]``. Split schemes:

* ``liqe_session_01`` .. ``liqe_session_10``: the LIQE authors' 10 sessions (``--liqe-labels``);
  the data files are then partitioned by session 1.
* ``official``: the corpus's own split (KonIQ-10k's ``set`` column).
* ``seeded``: a seeded random 70/10/20 split, grouped by reference image for synthetic corpora,
  written when the corpus has neither LIQE lists nor an official split.

``OUT_DIR`` may also be a Hub dataset id (``org/name``, a corpus pushed with ``--push-to-hub``): it is
fetched once with ``huggingface_hub.snapshot_download`` into the Hub cache (see ``corpus_folder``).

``load_session(OUT_DIR, 3)`` returns a ``DatasetDict`` with ``train``, ``validation`` and ``test``
built by selecting rows of the one stored copy; ``load_session(OUT_DIR)`` returns the partition of
the data files (what ``datasets.load_dataset(OUT_DIR)`` also gives).
"""

import glob
from pathlib import Path

import numpy as np

SPLITS = ("train", "validation", "test")
DATA_DIR = "data"
SPLITS_DIR = "splits"
DEFAULT_FRACTIONS = (0.7, 0.1, 0.2)
DEFAULT_SEED = 20200626  # the LIQE authors' seed; any fixed number gives a reproducible split


class SessionError(ValueError):
    """A requested split scheme is absent or does not match the stored rows."""


def liqe_session_name(session):
    """Split-table name of LIQE session ``session`` (1..10): ``liqe_session_03``."""
    return f"liqe_session_{int(session):02d}"


def seeded_split(ids, groups=None, seed=DEFAULT_SEED, fractions=DEFAULT_FRACTIONS):
    """{id: split}: a seeded random train/validation/test split of ``ids``.

    With ``groups`` (one group key per id, e.g. the reference image), whole groups go to one split,
    so that no content is shared between train and test. Groups are sorted before shuffling, so the
    result depends only on the set of groups and the seed. With at least 3 groups each split gets one.
    """
    ids = list(ids)
    groups = list(ids if groups is None else groups)
    if len(groups) != len(ids):
        raise ValueError(f"seeded_split: {len(ids)} ids but {len(groups)} group keys")
    unique = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(unique))
    n_test = int(round(fractions[2] * len(unique)))
    n_validation = int(round(fractions[1] * len(unique)))
    if len(unique) >= 3:
        n_test, n_validation = max(n_test, 1), max(n_validation, 1)
    split_of_group = {}
    for position, index in enumerate(order):
        if position < n_test:
            split_of_group[unique[index]] = "test"
        elif position < n_test + n_validation:
            split_of_group[unique[index]] = "validation"
        else:
            split_of_group[unique[index]] = "train"
    return {image_id: split_of_group[group] for image_id, group in zip(ids, groups)}


def corpus_folder(name_or_path, revision=None):
    """The local folder of a converted corpus: ``name_or_path`` itself when it is a folder, else a Hub dataset
    id fetched with ``huggingface_hub.snapshot_download`` (only the card, data and split files)."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    text = str(name_or_path)
    looks_like_id = text.count("/") == 1 and not text.startswith((".", "/", "~")) and all(text.split("/"))
    if not looks_like_id:
        raise SessionError(f"{text}: no such corpus folder (and not a Hub dataset id of the form org/name)")
    from huggingface_hub import snapshot_download

    try:
        local = snapshot_download(
            repo_id=text, repo_type="dataset", revision=revision,
            allow_patterns=["README.md", f"{DATA_DIR}/*.parquet", f"{SPLITS_DIR}/*.parquet"],
        )
    except Exception as error:  # offline, unknown repo, no access: say which corpus
        raise SessionError(f"{text}: not a local folder, and fetching it as a Hub dataset failed: {error}") from error
    return Path(local)


def data_files(out_dir):
    """{split: [parquet files in name order]} of a converted corpus (splits without rows are absent)."""
    out_dir = Path(out_dir)
    files = {}
    for split in SPLITS:
        matches = sorted(glob.glob(str(out_dir / DATA_DIR / f"{split}-*.parquet")))
        if matches:
            files[split] = matches
    if not files:
        raise SessionError(f"{out_dir}: no {DATA_DIR}/<split>-*.parquet files; is this a converted corpus folder?")
    return files


def list_split_tables(out_dir):
    """Names of the split schemes stored under ``OUT_DIR/splits``."""
    return sorted(path.stem for path in (Path(out_dir) / SPLITS_DIR).glob("*.parquet"))


def read_split_table(out_dir, name):
    """The split table ``name`` as {"row_id": [...], "image_id": [...], "split": [...]}."""
    import pyarrow.parquet as pq

    path = Path(out_dir) / SPLITS_DIR / f"{name}.parquet"
    if not path.is_file():
        raise SessionError(f"{path}: no split table {name!r}; this corpus has {list_split_tables(out_dir)}")
    return pq.read_table(path).to_pydict()


def _load_stored_splits(out_dir):
    import datasets

    return datasets.load_dataset("parquet", data_files=data_files(out_dir))


def load_corpus(out_dir):
    """Every row of a converted corpus as one ``Dataset``, in ``row_id`` order."""
    import datasets

    stored = _load_stored_splits(out_dir)
    return datasets.concatenate_datasets([stored[split] for split in SPLITS if split in stored])


def load_session(out_dir, session=None, revision=None):
    """A ``DatasetDict`` (train / validation / test) of a converted corpus (a folder or a Hub dataset id).

    ``session``: an int 1..10 for the LIQE session of that number, a split-table name (``"official"``,
    ``"seeded"``, ``"liqe_session_03"``), or None for the partition of the data files. The images are
    read from the one stored copy; a session only selects rows.
    """
    import datasets

    out_dir = corpus_folder(out_dir, revision)
    stored = _load_stored_splits(out_dir)
    if session is None:
        empty = next(iter(stored.values())).select([])
        return datasets.DatasetDict({split: stored[split] if split in stored else empty for split in SPLITS})
    name = liqe_session_name(session) if isinstance(session, (int, np.integer)) else str(session)
    table = read_split_table(out_dir, name)
    everything = datasets.concatenate_datasets([stored[split] for split in SPLITS if split in stored])
    stored_ids = everything.select_columns(["image_id"]).to_dict()["image_id"]
    if max(table["row_id"], default=-1) >= len(stored_ids):
        raise SessionError(f"{out_dir}: split table {name!r} names row ids beyond the {len(stored_ids)} stored rows")
    mismatched = [i for r, i in zip(table["row_id"], table["image_id"]) if stored_ids[r] != i]
    if mismatched:
        raise SessionError(
            f"{out_dir}: split table {name!r} does not match the stored rows ({len(mismatched)} image ids differ, "
            f"e.g. {mismatched[:3]}); were the data files replaced?"
        )
    rows_of = {split: [] for split in SPLITS}
    for row_id, split in zip(table["row_id"], table["split"]):
        if split not in rows_of:
            raise SessionError(f"{out_dir}: split table {name!r} has unknown split {split!r}")
        rows_of[split].append(row_id)
    return datasets.DatasetDict({split: everything.select(rows) for split, rows in rows_of.items()})
