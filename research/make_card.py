"""Write checkpoints/liqe-tiny-synthetic/README.md (the model card) from the measured figures.

    python research/make_card.py MODEL_DIR RUN_DIR EVAL_JSON LIQE_EVAL_MD CURVE_JSONL NAIVE_CURVE_JSONL PHOTO_SET \
        [WALL_MINUTES] [DEAD_LEAVES] [KEPT]

MODEL_DIR: the checkpoint folder; RUN_DIR: the train_accelerate.py output folder it came from (eval_results.jsonl);
EVAL_JSON: research/eval_demo.py's figures; LIQE_EVAL_MD: `liqe eval --by distortion` output (eval.md);
CURVE_JSONL / NAIVE_CURVE_JSONL: the research driver's learning curves of the recipe and of the naive one;
PHOTO_SET: the run's --ladder_photos; DEAD_LEAVES: its --ladder_dead_leaves (default 0); KEPT: its
--selection_metric (default srcc: the epoch of best validation SRCC; last: the final evaluation).
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets_scripts.ladders import EXTRA_TRAINING_PHOTOS, TRAINING_PHOTOS, UNSEEN_PHOTOS  # noqa: E402


def main(model_dir, run_dir, eval_json, liqe_eval_md, curve_jsonl, naive_jsonl, photo_set="bundled", wall_minutes=None,
         dead_leaves=0, kept="srcc"):
    dead_leaves = int(dead_leaves)
    result = json.loads(Path(eval_json).read_text())
    evals = [json.loads(l) for l in Path(run_dir, "eval_results.jsonl").read_text().splitlines() if l.strip()]
    if kept == "last":
        best = evals[-1]
    elif kept == "srcc":
        best = max(evals, key=lambda e: e["mean_validation_srcc"])
    else:
        best = max(evals, key=lambda e: e["results"]["synthetic"]["validation"][kept])
    liqe_eval = Path(liqe_eval_md).read_text().strip()
    registry = dict(TRAINING_PHOTOS)
    if photo_set == "bundled+":
        registry.update(EXTRA_TRAINING_PHOTOS)
    grey = sum("grey" in source for _, source, _ in registry.values())
    def level(e, split):
        return e["results"]["synthetic"][split].get("level_rank_srcc", float("nan"))

    epochs = "\n".join(
        f"| {e['epoch']}{' (kept)' if e is best else ''} | {e['step']} | {e['elapsed_s'] / 60 if 'elapsed_s' in e else float('nan'):.1f} | "
        f"{e['mean_validation_srcc']:.3f} | {level(e, 'validation'):.3f} | "
        f"{e['results']['synthetic']['test']['srcc']:.3f} | {level(e, 'test'):.3f} | "
        f"{e['results']['synthetic']['test'].get('distortion_accuracy', float('nan')):.3f} |"
        for e in evals
    )
    kept_rule = {"last": "kept the last evaluation (`selection_metric: last`)",
                 "srcc": "kept the evaluation with the best validation SRCC",
                 }.get(kept, f"kept the evaluation with the best validation {kept}")
    # Wall time: the run's own record (elapsed_s, newer runs) or the figure read from its console log.
    minutes = best["elapsed_s"] / 60 if "elapsed_s" in best else float(wall_minutes)
    # CURVE: a research-driver run's curve.jsonl (the earlier photos-only recipe).
    curve = [json.loads(l) for l in Path(curve_jsonl).read_text().splitlines() if l.strip()]
    naive = [json.loads(l) for l in Path(naive_jsonl).read_text().splitlines() if l.strip()]
    synth, unseen = result["synthetic_heldout"], result["unseen_photos"]
    size_mb = sum(p.stat().st_size for p in Path(model_dir).iterdir() if p.is_file()) / 1e6
    clip_config = json.loads(Path(model_dir, "config.json").read_text())["clip_config"]
    vision, text = clip_config["vision_config"], clip_config["text_config"]
    # The NSS start with pooling across the window has three fixed blocks (nss_init_(spread=True)), else two.
    spread = vision["num_hidden_layers"] >= 4 and vision["num_attention_heads"] > vision["hidden_size"] // 64
    fixed = "three" if spread else "two"
    head_block = vision["num_hidden_layers"] if spread else 3
    spread_text = ("""Block 3 pools each patch's own log energy (Laplacian, 2/4-px boxes, chroma)
   and its luminance across the window as a mean and as soft maxima / minima (attention logits +-2 x the value;
   `--vision_init nss_spread`): a photo with fine texture beside flat sky and a noisy photo have the same mean
   energy, but noise also lifts the quietest patches.""" if spread else "")
    spread_text = " " + spread_text if spread_text else ""
    photos = "\n".join(f"| {name} | {source} | {licence} |" for name, (_, source, licence) in registry.items())
    if dead_leaves:
        photos += (f"\n| dead_leaves_0_0 .. dead_leaves_0_{dead_leaves - 1} | {dead_leaves} procedural dead-leaves images "
                   "made from seed 0 by `datasets_scripts/dead_leaves.py` (occluding discs, radii ~ r^-3, natural colours) "
                   "| generated here (this repository's licence) |")
    unseen_photos = "\n".join(f"| {name} | {source} | {licence} |" for name, (_, source, licence) in UNSEEN_PHOTOS.items())
    per_class = "\n".join(
        f"| {name} | {v['srcc']:.3f} {'✓' if v['srcc'] >= 0.9 else '✗'} | {v['accuracy']:.3f} {'✓' if v['accuracy'] >= 0.6 else '✗'} | {v['groups']} |"
        for name, v in synth["per_class"].items()
    )
    per_kind = " · ".join(f"{k} {v:.3f}" for k, v in unseen["per_distortion"].items())
    weak_types = ", ".join(f"{k[3:]} {v:.2f}" for k, v in synth.get("per_type_srcc", {}).items() if v < 0.9) or "none"
    weak_unseen = ", ".join(f"{k} {v:.3f}" for k, v in unseen.get("per_group", {}).items() if v < 0.85) or "none"

    def rows(points):
        return "\n".join(f"| {p['minutes']} | {p['step']} | {p['synth_srcc']} | {p['synth_acc']} | {p['unseen_srcc']} |" for p in points)

    text = f"""---
library_name: transformers
license: mit
pipeline_tag: image-classification
tags:
- image-quality-assessment
- liqe
- clip
- demo
- synthetic-data
---

# LIQE tiny (synthetic): a demo model trained here from no pretrained weights

**What this is.** A LIQE model (a transformers `CLIPModel` inside `LIQEModel`; 55 prompts "a photo with
{{distortion}} artifacts, which is of {{quality}} quality") with a small CLIP backbone (vision: patch 32,
width {vision['hidden_size']}, {vision['num_hidden_layers']} layers, {vision['num_attention_heads']} heads; text: width {text['hidden_size']}, {text['num_hidden_layers']} layer{'s' if text['num_hidden_layers'] > 1 else ''}; {size_mb:.1f} MB folder), trained on one 2-core CPU with
`train_accelerate.py` from NO pretrained weights, on synthetic distortions of {len(registry)} bundled photos
({grey} grey){f" and {dead_leaves} procedural dead-leaves images" if dead_leaves else ""}. It ranks ordinary distortions (blur, noise, JPEG, exposure) of one photo against each other far
better than chance. **It is not a general quality model**: for real use, convert the official LIQE weights
(`liqe convert`) or train on the real corpora (`configs/liqe_six_corpora.yaml`).

## How it was trained (one command)

```bash
accelerate launch train_accelerate.py --config configs/liqe_tiny_synthetic.yaml{' --ladder_photos bundled+' if photo_set == 'bundled+' else ''}
# then: cp -r outputs/liqe-tiny-synthetic/best_model checkpoints/liqe-tiny-synthetic  (this card replaces its README)
```

{best['step']} steps of 16 ladders (96 crops) a step, {minutes:.0f} minutes of wall time to the kept evaluation on this project's 2-core machine (the minutes include the evaluations; the whole run, {evals[-1]["step"]} steps: {evals[-1]["elapsed_s"] / 60:.0f} minutes). The run
evaluated the embedded synthetic corpus every {evals[0]['step']} steps and {kept_rule} (the validation photo,
immunohistochemistry, is not a test photo). This table is the recipe's learning curve: "level" is the mean
within-(photo, distortion) SRCC of score against level, the issue's target metric, on the processor's 15 windows:

| epoch | step | minutes | validation SRCC | validation level SRCC | test SRCC (all test images) | test level SRCC | test distortion accuracy |
|---|---|---|---|---|---|---|---|
{epochs}

Recipe (configs/synthetic_demo.yaml explains each setting; every recipe tried: `research/LOG.md`):
1. The vision tower starts from a hand-built natural-scene-statistics construction (`modeling_liqe/nss_init.py`,
   no learned weights): a filter bank in the patch embedding (mean luminance, opponent colours, pixel
   differences, a Laplacian, 2/4/8-px box differences, differences across vs inside the 8-px JPEG grid,
   chroma differences), block 1 takes |response| per filter family, block 2 averages over the window
   (uniform attention) and takes a piecewise-linear log, standardised on training crops; plus soft shares of
   shadow / highlight patches.{spread_text} These {fixed} blocks stay fixed (`--freeze nss_front`).
2. Level ladders generated on the fly (`modeling_liqe/ladder_data.py`, `datasets_scripts/ladders.py`): a random
   crop (random scale, flip, rotation, channel order) of a training photo{" or dead-leaves image (`--ladder_dead_leaves`: the readout overfitted the ten photos alone)" if dead_leaves else ""}, one of the 25 KADID-style distortions
   of `datasets_scripts/synthetic.py` freshly seeded, the pristine crop and levels 1-5; one new ladder a step, the
   other 15 re-drawn from the 256 most recent. Ranking pairs only inside a ladder (exact order).
3. The readout (block-{head_block} MLP, post-LayerNorm, visual projection, text tower, learnable logit scale from 10) trains
   from the fixed front's cached output (`--cache_frozen_front`; the same maths as the full forward, checked at
   start): fidelity ranking loss + distortion fidelity loss + cross-entropy of the quality marginal against
   round(MOS); AdamW 2e-3, cosine. The score is LIQE's: the quality marginal of the joint softmax over the 55
   prompts.

### Training photos (all shipped inside PyPI wheels; nothing downloaded)

| photo | source | licence |
|---|---|---|
{photos}

The synthetic corpus's validation photo (immunohistochemistry) and test photos (chelsea, retina) were never
trained on; nor were the unseen photo sources below.

## Measured (held-out)

**Synthetic corpus, held-out test photos, by `liqe eval`** (chelsea, retina; 25 distortions x 5 levels, the corpus's
own images, the processor's 15 windows as `liqe score`): "level-ranking SRCC" is the mean within-(photo,
distortion) SRCC between score and level (target 0.90 per class), accuracy the distortion-class accuracy (target
0.6 per class):

```
liqe eval --model checkpoints/liqe-tiny-synthetic --dataset data/synthetic --session seeded --split test --by distortion
```

{liqe_eval}

The same images through `research/eval_demo.py`: mean level SRCC **{synth['mean_srcc']:.3f}**, accuracy
**{synth['accuracy']:.3f}**:

| distortion class | mean SRCC (target 0.90) | class accuracy (target 0.6) | groups |
|---|---|---|---|
{per_class}

**Unseen photo sources** (never trained on; distortions implemented apart from the training code: PIL Gaussian
blur, PIL JPEG quality 50-5, Gaussian noise sigma 6-45, linear-light under-exposure x0.55-x0.05; pristine + 5
levels): mean within-(photo, distortion) SRCC **{unseen['mean_srcc']:.3f}** (target 0.85; the issue quotes
~0.95 for BRISQUE on such a set, not measured here): {per_kind}.

| photo | source | licence |
|---|---|---|
{unseen_photos}

## Learning curves: this recipe vs the naive one

![curves](curves.png)

This recipe's curve is the evaluation table above (`train_accelerate.py`'s own evaluations: the processor's 15
windows, wall minutes including the evaluations; drawn as "this recipe" in the plot, `python research/plot_curves.py`).
The earlier photos-only recipe and the naive one were measured side by side on the same machine with the research
driver (`research/train_demo.py`; training minutes; fast in-training evaluation: 1 centre window per synthetic
image, 3 per unseen image). Photos-only recipe:

| minutes | steps | synthetic SRCC | class accuracy | unseen SRCC |
|---|---|---|---|---|
{rows(curve)}

Naive recipe (the issue's: random 8.8 M CLIP, fixed 500-image corpus of 4 photos, random batches, LIQE loss):

| minutes | steps | synthetic SRCC | class accuracy | unseen SRCC |
|---|---|---|---|---|
{rows(naive)}

What made it learn: a feature prior (the fixed NSS front) so that training only fits a readout, and the readout
trained on cached features of ever-new ladders (hundreds of steps per minute instead of a few){"; then references beyond the ten photos: with the dead-leaves images the held-out level ranking went from 0.584 to 0.802, at the same budget (`research/LOG.md`, session 14)" if dead_leaves else ""}{"; then pooling each patch's statistics across the window (soft maxima / minima) instead of only averaging them: 0.802 to the figure above, and the unseen photos from 0.781 (`research/LOG.md`, session 16)" if spread else ""}. A random ViT
did not move off chance in the minutes this machine gives (`research/LOG.md`, rounds 1-2).

## Weaknesses (read before using it)

- Trained on {len(registry)} photos ({grey} of them grey){f", {dead_leaves} dead-leaves images" if dead_leaves else ""} and synthetic distortions only; it knows nothing of authentic
  distortions, aesthetics or content. Scores across different photos are not comparable in any calibrated way.
- Classes below target above: see the tables (✗); distortion types whose held-out level SRCC is under 0.9:
  {weak_types}. The distortion-class accuracy misses 0.6 in most classes.
- Unseen groups below 0.85: {weak_unseen}. China (a pagoda and trees against a bright hazy sky) is the hard one:
  its share of near-white patches lies 7 standard deviations above the training references' (which hold a large
  bright region only when over-exposed) and its fine detail reads as distortion-like texture; the fixed front's
  energies are not divided by the luminance, so darkening it (less bright share, less texture energy) can read as an
  improvement. Darker versions of bright, detailed scenes may score above the original (research/LOG.md, session 18).
- The 8-px JPEG-grid features assume the window is aligned to the JPEG grid (true unless the image was resized).
- Exposure: dark or night photos (few in training) are often scored low whatever their quality.
- The scene axis is absent (quality x distortion variant): there is no scene prediction.
- The unseen-photo figure rests on 3 photos x 4 distortions (12 groups): it moves by ±0.1 between checkpoints.
  On four more licensed photos never trained on (sail, tulips, monarch, kodim23 from the sporco wheel; 16 groups,
  `research/probes/more_unseen_photos.py --set sporco`) this checkpoint scores 0.972 (research/LOG.md, session 19).
- One seed: the same command with `--seed 1` keeps a model at level SRCC 0.844, accuracy 0.444, unseen 0.752
  (research/LOG.md, session 16): the figures above are a favourable draw of the recipe, not its guaranteed result.
- Longer training fits the training references: in the table above the held-out level ranking falls after its
  peak while the accuracy keeps rising; the validation photo ranks levels best early and selects accordingly.
- Accuracy: at the kept step the readout classifies its own training references no better (0.456) than the held-out
  ones. Four fresh ladders a step (`--new_ladders_per_step 4 --validation_photos extra --selection_metric
  level_rank_srcc+distortion_accuracy`) reach accuracy 0.58-0.61 with level SRCC 0.87-0.93 (seeds 0-2), but their
  unseen figure falls to 0.74-0.78 (china's under-exposure inverted): not shipped (research/LOG.md, session 17).
- The kept evaluation was chosen on the validation photo alone ({kept_rule}); the figures above are on other
  photos. But the recipe's settings (the dead-leaves count, the budget, the selection rule) were chosen from runs
  whose test-photo figures were in view, so the figures are slightly optimistic.

Real use calls for the converted official LIQE weights (`liqe convert`) or training on the real corpora.
"""
    Path(model_dir, "README.md").write_text(text, encoding="utf-8")
    print(f"wrote {Path(model_dir, 'README.md')}")


if __name__ == "__main__":
    main(*sys.argv[1:])
