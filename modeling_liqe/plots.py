# coding=utf-8
# Copyright 2026 The liqe authors.
"""The analyses' figures as PNG files (matplotlib, the optional `analysis` extra; headless Agg backend).

- `realignment_scatter`: pooled MOS vs score, one colour per corpus, before (raw MOS) and after (realigned).
- `corpus_strip_plot`: every corpus's scores on the model's one axis, one row per corpus.
- `gmad_grid`: gMAD pairs, both models' scores under each image, "fixed X at level k".
Not part of the Hub remote code.
"""

import io

import numpy as np


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'liqe[analysis]' (or pass --no-plots)") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def realignment_scatter(path, corpora, before, after, scores, dpi=80):
    """corpora: the corpus name of each pooled image; before / after: its raw / realigned MOS; scores: its score."""
    plt = _pyplot()
    corpora = np.asarray(corpora)
    figure, axes = plt.subplots(1, 2, figsize=(9, 4), dpi=dpi)
    for axis, target, title in ((axes[0], before, "before: raw MOS"), (axes[1], after, "after: realigned MOS")):
        for name in dict.fromkeys(corpora.tolist()):
            mask = corpora == name
            axis.scatter(np.asarray(target)[mask], np.asarray(scores)[mask], s=6, alpha=0.6, label=name)
        axis.set_xlabel(title)
        axis.set_ylabel("model score")
    axes[0].legend(fontsize=7, markerscale=2)
    figure.suptitle("MOS of all corpora pooled against the model's scores")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def corpus_strip_plot(path, scores_by_corpus, dpi=80, seed=0):
    """scores_by_corpus: {corpus: scores}; one jittered row per corpus on the shared score axis."""
    plt = _pyplot()
    rng = np.random.default_rng(seed)
    names = list(scores_by_corpus)
    figure, axis = plt.subplots(figsize=(7, 0.6 * len(names) + 1.2), dpi=dpi)
    for row, name in enumerate(names):
        values = np.asarray(scores_by_corpus[name], dtype=float)
        axis.scatter(values, row + rng.uniform(-0.25, 0.25, values.size), s=4, alpha=0.5)
    axis.set_yticks(range(len(names)), names)
    axis.set_xlabel("model score")
    axis.set_title("where each corpus sits on the model's scale")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def _thumbnail(data, size):
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data))
        image = image.convert("RGB")
        image.thumbnail((size, size))
        return np.asarray(image)
    except Exception:  # an undecodable image becomes a grey square; the caption still shows the scores
        return np.full((size, size, 3), 128, dtype=np.uint8)


def gmad_grid(path, pairs, image_bytes, model_names, thumbnail=128, dpi=80, title=None):
    """gMAD pairs as a grid: one row per level, one column pair per (defender, attacker), headed "fixed D at level
    k"; the attacker's worst | best image, each captioned with every model's score on the common scale.
    pairs: the `gmad.find_pairs` rows (rank 1 of each level is drawn); image_bytes(index) -> encoded bytes."""
    plt = _pyplot()
    shown = [pair for pair in pairs if pair.get("rank", 1) == 1]
    if not shown:
        raise ValueError("no gMAD pairs to draw")
    duels = list(dict.fromkeys((pair["defender"], pair["attacker"]) for pair in shown))
    levels = sorted({pair["level"] for pair in shown})
    at = {(pair["defender"], pair["attacker"], pair["level"]): pair for pair in shown}
    columns = 2 * len(duels)
    height = 2.2 + 0.15 * len(model_names)  # image + caption lines + title
    figure, axes = plt.subplots(len(levels), columns, figsize=(2.0 * columns, height * len(levels) + 0.4), dpi=dpi,
                                squeeze=False, layout="constrained")
    for row, level in enumerate(levels):
        for duel_index, (defender, attacker) in enumerate(duels):
            pair = at.get((defender, attacker, level))
            for side, role in enumerate(("worst", "best")):
                axis = axes[row][2 * duel_index + side]
                axis.set_xticks([])
                axis.set_yticks([])
                if pair is None:
                    axis.set_axis_off()
                    continue
                axis.imshow(_thumbnail(image_bytes(pair[f"{role}_index"]), thumbnail))
                caption = "\n".join(f"{name}: {pair[f'{role}_scores'][name]:.2f}" for name in model_names)
                axis.set_xlabel(f"{attacker}'s {role}\n{caption}", fontsize=7)
                if side == 0:
                    axis.set_title(f"fixed {defender} at level {level}", fontsize=8, loc="left")
    if title:
        figure.suptitle(title, fontsize=9)
    figure.savefig(path, bbox_inches="tight", pad_inches=0.1)  # keeps the last row's captions inside
    plt.close(figure)
    return path


__all__ = ["realignment_scatter", "corpus_strip_plot", "gmad_grid"]
