# coding=utf-8
# Copyright 2026 The liqe authors.
"""Training batches of *level ladders* generated on the fly (`train_accelerate.py --train_source ladders`).

A ladder (`datasets_scripts/ladders.py`) is one random crop of a bundled photo, pristine and at distortion levels
1..5 of one freshly seeded distortion: within a ladder the quality order is exact, so the ranking loss pairs
images of one ladder only (each ladder is its own "corpus" for the loss). Generating a ladder costs more CPU than
a training step of a small model, so a batch holds `new_per_batch` new ladders and re-draws the rest from the
`pool` most recent ones (research/LOG.md: ~1 new ladder a step, each drawn ~16 times, learns; more re-use
overfits the photos).

Everything a batch holds is a pure function of (seed, process rank, batch index): ladder `i` of rank `r` is
`LadderSampler(photos, seed=[seed, r, i]).sample()`, and which old ladders batch `b` re-draws comes from
`default_rng([seed, r, b])`. A resumed run therefore draws exactly what an uninterrupted one draws, whatever
the number of DataLoader workers; a worker keeps the recent ladders in a cache and regenerates (identically) any
it does not hold. Not part of the Hub remote code.
"""

import numpy as np
import torch

# "bundled": datasets_scripts.ladders.TRAINING_PHOTOS (10); "bundled+": those and EXTRA_TRAINING_PHOTOS (13);
# "bundled+colour": those and MORE_COLOUR_PHOTOS (14, from the sporco wheel).
PHOTO_SETS = ("bundled", "bundled+", "bundled+colour")


def _photos(photo_set, dead_leaves=0, dead_leaves_texture=0.0, sky_dead_leaves=0):
    from datasets_scripts.ladders import EXTRA_TRAINING_PHOTOS, MORE_COLOUR_PHOTOS, TRAINING_PHOTOS, load_photos

    if photo_set not in PHOTO_SETS:
        raise ValueError(f"unknown ladder photo set {photo_set!r}; expected one of {PHOTO_SETS}")
    registry = dict(TRAINING_PHOTOS)
    if photo_set == "bundled+":
        registry.update(EXTRA_TRAINING_PHOTOS)
    elif photo_set == "bundled+colour":
        registry.update(MORE_COLOUR_PHOTOS)
    photos = load_photos(registry)
    from datasets_scripts.dead_leaves import dead_leaves_photos

    # Seed 0 always: the same procedural references whatever the run's seed (recorded in the data plan).
    for count, sky in ((dead_leaves, False), (sky_dead_leaves, True)):
        if count:
            photos += dead_leaves_photos(count, seed=0, texture=dead_leaves_texture, sky=sky)
    return photos


def normalise(images, image_mean, image_std):
    """(N, S, S, 3) uint8 -> (N, 3, S, S) float32 normalised like the image processor."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(image_mean, dtype=torch.float32)[:, None, None]
    std = torch.tensor(image_std, dtype=torch.float32)[:, None, None]
    return (x - mean) / std


class LadderBatches(torch.utils.data.Dataset):
    """Indexed by a batch number of one process: that batch's ladders, collated like `train_data.collate_windows`.

    Args:
        ladders_per_batch: ladders in a batch (each gives `1 + len(levels)` images).
        new_per_batch: ladders generated for this batch; the others are drawn (without repetition) from the
            `pool` ladders made just before. Batch 0 generates `ladders_per_batch` ladders.
        pool: how many recent ladders re-draws come from.
        seed, rank: the stream (each process has its own).
        crop_size: the window side (the model's input).
        image_mean, image_std: the image processor's normalisation.
        type_ids: KADID-style distortion ids (default: all 25).
        photo_set: which photos (``"bundled"``: `datasets_scripts.ladders.TRAINING_PHOTOS`).
        dead_leaves: how many procedural dead-leaves references (`datasets_scripts/dead_leaves.py`, seed 0) join
            the photos; a ladder picks its reference uniformly among all of them.
        sky_dead_leaves: how many more dead-leaves references with a bright hazy sky (`dead_leaves_image(sky=True)`,
            seed 0) join them.
        dead_leaves_texture: the dead-leaves discs' 1/f texture contrast, up to (`dead_leaves_image`; 0: flat).
        exposure_jitter: log-gain range of a random exposure of each reference crop (`LadderSampler`; 0: none).
        tint_grey: the probability that a grey photo's crop is coloured by a random two-colour ramp
            (`LadderSampler`; 0: grey photos stay grey).
        linear_darken: the probability that a Darken ladder scales linear light instead of the gamma curve
            (`LadderSampler`; 0: never).
        sky_composite: the probability that a reference crop gets a bright hazy sky over its upper part
            (`LadderSampler`; 0: never).
        front: optional `frozen_front.FrozenFront`: the batch then holds its output per image (`front_states`,
            computed once per ladder and cached) instead of the windows (`pixel_values`).
    """

    def __init__(self, ladders_per_batch=16, new_per_batch=1, pool=256, seed=0, rank=0, crop_size=224,
                 image_mean=(0.5, 0.5, 0.5), image_std=(0.5, 0.5, 0.5), type_ids=None, photo_set="bundled", front=None, dead_leaves=0,
                 exposure_jitter=0.0, dead_leaves_texture=0.0, tint_grey=0.0, linear_darken=0.0,
                 sky_dead_leaves=0, sky_composite=0.0):
        if ladders_per_batch < 1:
            raise ValueError(f"ladders_per_batch must be >= 1, got {ladders_per_batch}")
        if not 1 <= new_per_batch <= ladders_per_batch:
            raise ValueError(f"new_per_batch must be in 1..ladders_per_batch ({ladders_per_batch}), got {new_per_batch}")
        if pool < ladders_per_batch - new_per_batch:
            raise ValueError(f"pool ({pool}) must hold at least ladders_per_batch - new_per_batch "
                             f"({ladders_per_batch - new_per_batch}) ladders")
        if photo_set not in PHOTO_SETS:
            raise ValueError(f"unknown ladder photo set {photo_set!r}; expected one of {PHOTO_SETS}")
        for name, count in (("dead_leaves", dead_leaves), ("sky_dead_leaves", sky_dead_leaves)):
            if int(count) != count or count < 0:
                raise ValueError(f"{name} must be a count >= 0, got {count!r}")
        self.dead_leaves, self.sky_dead_leaves = int(dead_leaves), int(sky_dead_leaves)
        from datasets_scripts.ladders import checked_exposure_jitter, checked_probability

        # Checked here, not first in the DataLoader worker that builds the sampler.
        self.exposure_jitter = checked_exposure_jitter(exposure_jitter)
        self.tint_grey = checked_probability("tint_grey", tint_grey)
        self.linear_darken = checked_probability("linear_darken", linear_darken)
        self.sky_composite = checked_probability("sky_composite", sky_composite)
        if not 0.0 <= float(dead_leaves_texture) <= 1.0:
            raise ValueError(f"dead_leaves_texture must be in [0, 1], got {dead_leaves_texture!r}")
        self.dead_leaves_texture = float(dead_leaves_texture)
        self.ladders_per_batch, self.new_per_batch, self.pool = int(ladders_per_batch), int(new_per_batch), int(pool)
        self.seed, self.rank, self.crop_size = int(seed), int(rank), int(crop_size)
        self.image_mean, self.image_std = tuple(image_mean), tuple(image_std)
        self.type_ids = list(type_ids) if type_ids else None
        self.photo_set = photo_set
        self.front = front
        self._photos = None
        self._cache = {}
        self.generated = 0  # ladders this copy made (a worker's own count; for tests)

    # Ladder ids: batch 0 makes ids [0, L), batch b > 0 makes [L + (b - 1) n, L + b n).
    def new_ids(self, batch):
        if batch == 0:
            return list(range(self.ladders_per_batch))
        start = self.ladders_per_batch + (batch - 1) * self.new_per_batch
        return list(range(start, start + self.new_per_batch))

    def ladder_ids(self, batch):
        """The ladder ids of batch `batch`: its new ones, then the re-drawn ones."""
        batch = int(batch)
        new = self.new_ids(batch)
        if batch == 0:
            return new
        low = max(0, new[0] - self.pool)
        rng = np.random.default_rng([self.seed, self.rank, batch])
        old = rng.choice(np.arange(low, new[0]), size=self.ladders_per_batch - len(new), replace=False)
        return new + sorted(int(i) for i in old)

    def ladder(self, ladder_id):
        from datasets_scripts.ladders import LadderSampler

        if ladder_id in self._cache:
            return self._cache[ladder_id]
        if self._photos is None:
            self._photos = _photos(self.photo_set, self.dead_leaves, self.dead_leaves_texture, self.sky_dead_leaves)
        sampler = LadderSampler(self._photos, crop_size=self.crop_size, type_ids=self.type_ids,
                                seed=[self.seed, self.rank, int(ladder_id)], exposure_jitter=self.exposure_jitter,
                                tint_grey=self.tint_grey, linear_darken=self.linear_darken,
                                sky_composite=self.sky_composite)
        made = sampler.sample()
        self.generated += 1
        # Kept per ladder (small): the front's output on its windows, or the uint8 windows themselves.
        inputs = self.front(normalise(made.images, self.image_mean, self.image_std)) if self.front is not None else made.images
        ladder = (inputs, made.mos, made.distortion_class)
        self._cache[ladder_id] = ladder
        # Evict the oldest ladders (smallest ids): batches in order only re-draw from the most recent `pool`.
        while len(self._cache) > self.pool + self.ladders_per_batch:
            del self._cache[min(self._cache)]
        return ladder

    def __getitem__(self, batch):
        ladders = [self.ladder(i) for i in self.ladder_ids(batch)]
        if self.front is not None:
            inputs = torch.cat([inputs for inputs, _, _ in ladders])
        else:
            inputs = normalise(np.concatenate([inputs for inputs, _, _ in ladders]), self.image_mean, self.image_std)
        inputs = inputs[:, None]  # one window an image
        per_ladder = len(ladders[0][1])
        count = len(inputs)
        return {
            ("front_states" if self.front is not None else "pixel_values"): inputs,
            "patch_mask": torch.ones(count, 1, dtype=torch.bool),
            "mos": torch.from_numpy(np.concatenate([mos for _, mos, _ in ladders])).float(),
            # Ranking pairs stay inside a ladder: each ladder is its own group for the quality loss.
            "corpus_ids": torch.repeat_interleave(torch.arange(len(ladders)), per_ladder),
            "scene_labels": torch.zeros(count, 9),
            "distortion_labels": torch.from_numpy(np.concatenate([classes for _, _, classes in ladders])).long(),
        }

    def __len__(self):  # batches are indexed without end; the DataLoader's sampler says which
        raise TypeError("LadderBatches is indexed by batch number; give the DataLoader a sampler")


def _worker_init(_):
    torch.set_num_threads(1)


def ladder_dataloader(dataset, start_batch, end_batch, num_workers=0):
    """Batches [start_batch, end_batch) of `dataset`, in order (not to be `accelerator.prepare`d: each process
    has its own stream)."""
    return torch.utils.data.DataLoader(
        dataset, sampler=range(int(start_batch), int(end_batch)), batch_size=None, num_workers=num_workers,
        worker_init_fn=_worker_init if num_workers else None, persistent_workers=False,
    )


def calibration_windows(count, crop_size, image_mean, image_std, seed=0, type_ids=None, photo_set="bundled"):
    """`count` ladders' images (pristine and distorted training crops), normalised: what `nss_init_`
    standardises its features on."""
    from datasets_scripts.ladders import LadderSampler

    sampler = LadderSampler(_photos(photo_set), crop_size=crop_size, type_ids=type_ids, seed=[seed, 1000])
    images = np.concatenate([sampler.sample().images for _ in range(int(count))])
    return normalise(images, image_mean, image_std)


__all__ = ["LadderBatches", "ladder_dataloader", "calibration_windows", "normalise", "PHOTO_SETS"]
