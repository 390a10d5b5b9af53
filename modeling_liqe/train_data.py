# coding=utf-8
# Copyright 2026 The liqe authors.
"""Training data for LIQE: corpora, one sampler per corpus, and windows cut in DataLoader workers.

- `load_corpora` reads every corpus (a folder written by `datasets_scripts/` or a Hub dataset id) at a session
  (a LIQE session number, a split-table name such as ``seeded``, or the stored partition).
- `MultiCorpusBatchSampler` yields one training step's images: `batch_size` images of EVERY corpus, each corpus
  read through its own shuffled pass that restarts (reshuffled) when exhausted. What a step holds is a pure
  function of (seed, step, process): no iterator state to save, so a resumed run restarts at a step number and
  draws exactly the images an uninterrupted run draws, and no worker prefetch can put the state ahead.
- `TrainWindowsDataset` decodes an image, flips it and cuts its random windows in the DataLoader worker, seeded
  by (seed, step, corpus, position), so the windows do not depend on the number of workers either.
- `EvalWindowsDataset` gives the fixed test windows of a corpus split for evaluation.

Not part of the Hub remote code.
"""

import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .configuration_liqe import DISTORTION_CLASSES, SCENES
from .image_processing_liqe import pad_windows


class CorpusError(ValueError):
    """A corpus cannot be trained on (absent, empty, unlabelled)."""


@dataclass
class Corpus:
    """One corpus at one session: its name and its train / validation / test `datasets.Dataset`s."""

    name: str
    source: str
    splits: dict  # split name -> datasets.Dataset (image column not decoded)
    batch_size: int = 0

    def __len__(self):
        return len(self.splits["train"])


def load_corpora(sources, sessions=None, batch_sizes=None, names=None, revision=None):
    """Load every corpus; `sessions`, `batch_sizes`, `names` are lists parallel to `sources` (or one value for all).

    A session is an int (LIQE session), a split-table name (``"seeded"``, ``"official"``) or None / ``""`` (the
    stored partition). Raises `CorpusError` naming the corpus when it has no training image or no MOS.
    """
    import datasets

    from datasets_scripts.splits import load_session

    sources = list(sources)
    if not sources:
        raise CorpusError("no corpus given: pass at least one --dataset_names folder or Hub dataset id")

    def per_corpus(values, what, default):
        if values is None or (isinstance(values, (list, tuple)) and len(values) == 0):
            return [default] * len(sources)
        if not isinstance(values, (list, tuple)):
            return [values] * len(sources)
        if len(values) == 1:
            return list(values) * len(sources)
        if len(values) != len(sources):
            raise CorpusError(f"{len(values)} {what} for {len(sources)} corpora ({sources})")
        return list(values)

    sessions = per_corpus(sessions, "sessions", None)
    batch_sizes = per_corpus(batch_sizes, "batch sizes", 4)
    names = per_corpus(names, "names", None)
    corpora = []
    for source, session, batch_size, name in zip(sources, sessions, batch_sizes, names):
        session = _session_value(session)
        try:
            splits = load_session(source, session, revision=revision)
        except Exception as error:
            raise CorpusError(f"corpus {source}: cannot be loaded at session {session!r}: {error}") from error
        splits = {split: ds.cast_column("image", datasets.Image(decode=False)) for split, ds in splits.items()}
        train = splits["train"]
        if name is None:
            stored = {value for ds in splits.values() if len(ds) and "corpus" in ds.column_names for value in ds.unique("corpus")}
            name = stored.pop() if len(stored) == 1 else str(source).rstrip("/").split("/")[-1]
        if len(train) == 0:
            raise CorpusError(f"corpus {name} ({source}, session {session!r}) has no training image")
        if int(batch_size) < 1:
            raise CorpusError(f"corpus {name}: batch size must be >= 1, got {batch_size}")
        mos = np.asarray(train["mos"], dtype=np.float64)
        if not np.all(np.isfinite(mos)):
            bad = int((~np.isfinite(mos)).sum())
            raise CorpusError(f"corpus {name} ({source}): {bad} training images have no finite MOS")
        corpora.append(Corpus(name=name, source=str(source), splits=splits, batch_size=int(batch_size)))
    taken = [c.name for c in corpora]
    if len(set(taken)) != len(taken):
        raise CorpusError(f"two corpora share a name ({taken}); give --corpus_names")
    return corpora


def _session_value(session):
    if session is None or session == "" or session == "partition":
        return None
    if isinstance(session, str) and session.isdigit():
        return int(session)
    return session


class MultiCorpusBatchSampler:
    """Yields, for each step in [start_step, end_step), the list of (corpus, row, sample seed) of this process.

    Corpus c contributes `batch_sizes[c]` images a step (all of it when it is smaller). Its rows are read in
    passes: pass k is the permutation `default_rng([seed, c, k])` cut into `len // batch` whole batches (the
    remainder is dropped), and the next pass starts when one is exhausted. With several processes, step s of
    rank r takes the global batch s * num_replicas + r, so the processes never share a batch.
    """

    def __init__(self, corpus_sizes, batch_sizes, seed=0, start_step=0, end_step=None, rank=0, num_replicas=1):
        if len(corpus_sizes) != len(batch_sizes):
            raise ValueError(f"{len(corpus_sizes)} corpora but {len(batch_sizes)} batch sizes")
        self.corpus_sizes = [int(n) for n in corpus_sizes]
        self.batch_sizes = [min(int(b), int(n)) for b, n in zip(batch_sizes, corpus_sizes)]
        if any(n <= 0 for n in self.corpus_sizes):
            raise CorpusError(f"a corpus is empty (sizes {self.corpus_sizes})")
        self.seed = int(seed)
        self.start_step = int(start_step)
        self.end_step = end_step
        self.rank = int(rank)
        self.num_replicas = int(num_replicas)

    def batches_per_pass(self, corpus):
        return self.corpus_sizes[corpus] // self.batch_sizes[corpus]

    def rows(self, corpus, global_batch):
        """Row ids of corpus `corpus` in global batch `global_batch`."""
        per_pass = self.batches_per_pass(corpus)
        passes, index = divmod(int(global_batch), per_pass)
        order = np.random.default_rng([self.seed, corpus, passes]).permutation(self.corpus_sizes[corpus])
        size = self.batch_sizes[corpus]
        return order[index * size : (index + 1) * size].tolist()

    def step_items(self, step):
        global_batch = int(step) * self.num_replicas + self.rank
        items = []
        for corpus in range(len(self.corpus_sizes)):
            for position, row in enumerate(self.rows(corpus, global_batch)):
                items.append((corpus, row, (self.seed, global_batch, corpus, position)))
        return items

    def __iter__(self):
        step = self.start_step
        while self.end_step is None or step < self.end_step:
            yield self.step_items(step)
            step += 1

    def __len__(self):
        if self.end_step is None:
            raise TypeError("an endless sampler has no length")
        return max(0, self.end_step - self.start_step)


def decode_image(record, corpus_name, split):
    """A PIL image from a not-decoded `datasets.Image` record; errors name the corpus and the image."""
    try:
        if record.get("bytes") is not None:
            return Image.open(io.BytesIO(record["bytes"]))
        return Image.open(record["path"])
    except Exception as error:
        raise CorpusError(f"corpus {corpus_name} ({split}): cannot read image {record.get('path')!r}: {error}") from error


def _labels(row):
    scenes = torch.zeros(len(SCENES))
    for scene in row.get("scenes") or []:
        if scene is not None and 0 <= int(scene) < len(SCENES):
            scenes[int(scene)] = 1.0
    distortion = row.get("distortion")
    distortion = -1 if distortion is None or not 0 <= int(distortion) < len(DISTORTION_CLASSES) else int(distortion)
    return scenes, distortion


class TrainWindowsDataset(torch.utils.data.Dataset):
    """Indexed by (corpus, row, sample seed): the image's random training windows and its labels."""

    def __init__(self, corpora, image_processor, split="train"):
        self.corpora = corpora
        self.image_processor = image_processor
        self.split = split

    def __getitem__(self, item):
        corpus, row_id, sample_seed = item
        source = self.corpora[corpus]
        row = source.splits[self.split][int(row_id)]
        image = decode_image(row["image"], source.name, self.split)
        generator = np.random.default_rng(list(sample_seed))
        windows = self.image_processor(image, training=True, generator=generator)["pixel_values"][0]
        scenes, distortion = _labels(row)
        return {
            "pixel_values": windows,
            "mos": torch.tensor(float(row["mos"])),
            "corpus_ids": torch.tensor(corpus),
            "scene_labels": scenes,
            "distortion_labels": torch.tensor(distortion),
        }


class EvalWindowsDataset(torch.utils.data.Dataset):
    """The fixed test windows of every image of one corpus split, with its labels."""

    def __init__(self, corpus, corpus_index, split, image_processor):
        self.corpus = corpus
        self.corpus_index = corpus_index
        self.split = split
        self.data = corpus.splits[split]
        self.image_processor = image_processor

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        row = self.data[int(index)]
        image = decode_image(row["image"], self.corpus.name, self.split)
        features = self.image_processor(image)
        scenes, distortion = _labels(row)
        return {
            "pixel_values": features["pixel_values"][0],
            "mos": torch.tensor(float(row["mos"])),
            "corpus_ids": torch.tensor(self.corpus_index),
            "scene_labels": scenes,
            "distortion_labels": torch.tensor(distortion),
        }


def collate_windows(items):
    """Stack items; windows of different counts are padded and `patch_mask` marks the real ones."""
    pixel_values, patch_mask = pad_windows([item["pixel_values"] for item in items])
    batch = {"pixel_values": pixel_values, "patch_mask": patch_mask}
    for key in ("mos", "corpus_ids", "scene_labels", "distortion_labels"):
        batch[key] = torch.stack([item[key] for item in items])
    return batch


def _worker_init(_):
    # Each worker decodes and cuts windows; torch threads there would fight the training process for cores.
    torch.set_num_threads(1)


def train_dataloader(corpora, image_processor, seed, start_step, end_step, rank=0, num_replicas=1, num_workers=0):
    """The DataLoader of steps [start_step, end_step) of this process (not to be `accelerator.prepare`d: the
    sampler already gives each process its own batches)."""
    sampler = MultiCorpusBatchSampler(
        [len(c) for c in corpora], [c.batch_size for c in corpora], seed=seed, start_step=start_step,
        end_step=end_step, rank=rank, num_replicas=num_replicas,
    )
    return torch.utils.data.DataLoader(
        TrainWindowsDataset(corpora, image_processor), batch_sampler=sampler, collate_fn=collate_windows,
        num_workers=num_workers, worker_init_fn=_worker_init if num_workers else None,
    )


def eval_dataloader(corpus, corpus_index, split, image_processor, batch_size=8, num_workers=0):
    """The DataLoader of one corpus split's test windows, in order (prepare it: the processes share it out)."""
    return torch.utils.data.DataLoader(
        EvalWindowsDataset(corpus, corpus_index, split, image_processor), batch_size=batch_size, shuffle=False,
        collate_fn=collate_windows, num_workers=num_workers, worker_init_fn=_worker_init if num_workers else None,
    )


__all__ = [
    "Corpus",
    "CorpusError",
    "load_corpora",
    "MultiCorpusBatchSampler",
    "TrainWindowsDataset",
    "EvalWindowsDataset",
    "collate_windows",
    "train_dataloader",
    "eval_dataloader",
]
