"""Tiny converted corpora for the analyses' tests, written by the real exporter (datasets_scripts.export).

Each corpus: `references` flat-colour 40x40 photos x 2 distortion types x `levels` levels of noise; the MOS is a
monotone function of the level on the corpus's own scale (so corpora differ in scale, as real ones do).
"""

import atexit
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from datasets_scripts.card import REDISTRIBUTION_ALLOWED, CorpusCard
from datasets_scripts.export import write_corpus

SCALES = {
    "one_to_five": lambda quality: 1 + 4 * quality,
    "zero_to_hundred": lambda quality: 100 * quality ** 1.5,
    "zero_to_one": lambda quality: 1 / (1 + np.exp(-6 * (quality - 0.5))),
}
TYPES = ("white noise", "gaussian blur")


def write_toy_corpus(out, name, scale="one_to_five", references=3, levels=4, seed=0, size=40):
    rng = np.random.default_rng(seed)
    folder = out.parent / f"{out.name}-images"
    folder.mkdir(parents=True, exist_ok=True)
    rows, split = [], {}
    sessions = {"liqe_session_01": {}, "liqe_session_02": {}}
    for ref in range(references):
        base = rng.integers(40, 215, size=3)
        for type_index, fine in enumerate(TYPES):
            for level in range(1, levels + 1):
                noise = rng.normal(0, 12 * level, size=(size, size, 3))
                pixels = np.clip(base + noise + type_index * 5, 0, 255).astype(np.uint8)
                path = folder / f"ref{ref}_{type_index}_{level}.png"
                Image.fromarray(pixels).save(path)
                quality = 1 - (level - 1) / max(levels - 1, 1) * 0.9 - 0.03 * type_index
                image_id = f"{name}/ref{ref}_{type_index}_{level}.png"
                rows.append({"image": str(path), "image_id": image_id, "mos": float(SCALES[scale](quality)),
                             "corpus": name, "reference_id": f"{name}-ref{ref}", "distortion_fine": fine,
                             "distortion_level": level, "scenes": ["others"]})
                split[image_id] = "test" if ref == 0 else "train"
                sessions["liqe_session_01"][image_id] = "test" if ref == 0 else "train"
                sessions["liqe_session_02"][image_id] = "test" if ref == references - 1 else "train"
    card = CorpusCard(corpus=name, pretty_name=name, homepage="https://example.org", description="Toy.",
                      score_description="toy", citation="@misc{toy}", terms="MIT.",
                      redistribution=REDISTRIBUTION_ALLOWED, license="mit")
    write_corpus(out, rows, {"seeded": split, **sessions}, card, default_split="seeded")
    return out


def init_models(folder, seeds=(0, 1)):
    """`liqe init`-style random tiny models (the real writer), one folder per seed."""
    from modeling_liqe.geometries import init_random_model

    paths = []
    for seed in seeds:
        path = folder / f"random-{seed}"
        init_random_model("tiny", seed=seed, output_dir=str(path))
        paths.append(path)
    return paths


@lru_cache(maxsize=None)
def shared_setup():
    """Two random models and two toy corpora on different MOS scales, built once per test process."""
    root = Path(tempfile.mkdtemp(prefix="liqe-analyses-"))
    atexit.register(shutil.rmtree, root, True)
    models = init_models(root, seeds=(0, 1))
    corpus_a = write_toy_corpus(root / "toy_a", "toy_a", scale="one_to_five", references=3, levels=4, seed=0)
    corpus_b = write_toy_corpus(root / "toy_b", "toy_b", scale="zero_to_hundred", references=2, levels=4, seed=1)
    return root, models, (corpus_a, corpus_b)
