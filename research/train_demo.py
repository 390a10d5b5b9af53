"""Research driver for issue 11: train a small CLIP-geometry LIQE from random weights on level ladders.

Logs a learning curve (held-out metrics against wall-clock minutes) to OUT/curve.jsonl and saves the model
folder (save_pretrained: safetensors, remote code, processor, prompt features) to OUT/model.

    PYTHONPATH=. python research/train_demo.py --out research/runs/NAME --minutes 15 [options]

`--recipe naive` reproduces the issue's baseline: a fixed set of 500 images (the synthetic corpus's 4 training
photos x 25 distortions x 5 levels, 384 px, random 224 windows), ranking pairs across the whole batch.
"""

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets_scripts.ladders import TRAINING_PHOTOS, LadderSampler, load_photos, photo_fingerprint  # noqa: E402
from datasets_scripts.synthetic import DISTORTIONS, distort, load_reference_photos, quality_target  # noqa: E402
from modeling_liqe.configuration_liqe import DISTORTION_CLASSES, LIQEConfig  # noqa: E402
from modeling_liqe.convert_liqe_checkpoint import clip_config_from_openai_state_dict  # noqa: E402
from modeling_liqe.geometries import _shape_only_state_dict  # noqa: E402
from modeling_liqe.image_processing_liqe import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD  # noqa: E402
from modeling_liqe.losses import quality_ranking_loss, single_label_fidelity_loss  # noqa: E402
from modeling_liqe.metrics import srcc  # noqa: E402
from modeling_liqe.model_folder import prepare_model_and_processor, save_model_folder  # noqa: E402
from modeling_liqe.modeling_liqe import LIQEModel  # noqa: E402

SYNTHETIC_TEST_REFS = ("chelsea", "retina")  # the synthetic corpus's seed-0 test split
MEAN = np.asarray(OPENAI_CLIP_MEAN, np.float32)
STD = np.asarray(OPENAI_CLIP_STD, np.float32)


def to_tensor(images):
    """(N, S, S, 3) uint8 -> (N, 3, S, S) float32, CLIP-normalised (as the image processor)."""
    x = (np.asarray(images, np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def build_model(args):
    geometry = {
        "embed": args.embed, "vision_width": args.width, "vision_layers": args.layers, "patch": args.patch,
        "image": args.image, "text_width": args.text_width, "text_layers": args.text_layers, "context": 77, "vocab": 49408,
    }
    clip_config = clip_config_from_openai_state_dict(_shape_only_state_dict(geometry), source="demo geometry")
    config = LIQEConfig(clip_config=clip_config, variant=args.variant, patch_size=args.image)
    torch.manual_seed(args.seed)
    model = LIQEModel(config)
    model, processor = prepare_model_and_processor(model)
    with torch.no_grad():
        model.clip.logit_scale.fill_(math.log(args.logit_scale))
    model.clip.logit_scale.requires_grad_(args.learn_logit_scale)
    if args.dct_init:
        dct_init_(model.clip.vision_model.embeddings.patch_embedding.weight)
    if args.nss_init:
        from modeling_liqe.nss_init import nss_init_

        # Standardise the log energies on 12 ladders of training crops (pristine + 5 levels each).
        sampler = LadderSampler(load_photos(TRAINING_PHOTOS), crop_size=args.image, seed=args.seed + 1000)
        calibration = to_tensor(np.concatenate([sampler.sample().images for _ in range(12)]))
        nss_init_(model, seed=args.seed, calibration_images=calibration)
    return model.train(), processor, geometry


def dct_init_(weight):
    """Patch embedding rows = 2-D DCT basis functions (luminance, then two opponent-colour mixes), scaled."""
    width, _, p, _ = weight.shape
    n = np.arange(p)
    basis_1d = np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / (2 * p))
    basis_1d[0] /= np.sqrt(2)
    basis_1d *= np.sqrt(2.0 / p)
    freqs = sorted(((u, v) for u in range(p) for v in range(p)), key=lambda uv: (uv[0] + uv[1], uv))
    colours = [np.array([1, 1, 1]) / np.sqrt(3), np.array([1, -1, 0]) / np.sqrt(2), np.array([1, 1, -2]) / np.sqrt(6)]
    rows = []
    # Luminance: every frequency up to width*2/3, then the lowest opponent-colour frequencies.
    n_lum = min(len(freqs), (2 * width) // 3)
    step = max(1, len(freqs) // n_lum)
    for u, v in freqs[::step][:n_lum]:
        rows.append(colours[0][:, None, None] * np.outer(basis_1d[u], basis_1d[v])[None])
    k = 0
    while len(rows) < width:
        u, v = freqs[k // 2]
        rows.append(colours[1 + k % 2][:, None, None] * np.outer(basis_1d[u], basis_1d[v])[None])
        k += 1
    with torch.no_grad():
        weight.copy_(torch.tensor(np.stack(rows[:width]), dtype=weight.dtype))


class LadderStream(torch.utils.data.IterableDataset):
    """Batches of ladders. With `pool` > 0, draws each batch from a pool of `pool` ladders of which `refresh`
    are replaced by new ones every batch (generation costs more CPU than a step of a small model)."""

    def __init__(self, ladders_per_step, crop_size, seed, type_ids=None, pool=0, refresh=2):
        self.ladders_per_step, self.crop_size, self.seed, self.type_ids = ladders_per_step, crop_size, seed, type_ids
        self.pool, self.refresh = pool, refresh

    def __iter__(self):
        photos = load_photos(TRAINING_PHOTOS)
        sampler = LadderSampler(photos, crop_size=self.crop_size, seed=self.seed, type_ids=self.type_ids)
        rng = np.random.default_rng(self.seed + 1)
        pool = [sampler.sample() for _ in range(self.pool)]
        while True:
            if self.pool:
                for k in rng.choice(len(pool), size=self.refresh, replace=False):
                    pool[k] = sampler.sample()
                ladders = [pool[k] for k in rng.choice(len(pool), size=self.ladders_per_step, replace=False)]
            else:
                ladders = [sampler.sample() for _ in range(self.ladders_per_step)]
            images = np.concatenate([ladder.images for ladder in ladders])
            yield {
                "pixel_values": to_tensor(images),
                "mos": torch.from_numpy(np.concatenate([ladder.mos for ladder in ladders])),
                "distortion": torch.from_numpy(np.concatenate([ladder.distortion_class for ladder in ladders])),
                "group": torch.repeat_interleave(torch.arange(len(ladders)), len(ladders[0].mos)),
            }


class NaiveStream(torch.utils.data.IterableDataset):
    """The issue's baseline: a fixed 500-image corpus (4 photos), random batches, random windows."""

    def __init__(self, batch_size, crop_size, seed):
        self.batch_size, self.crop_size, self.seed = batch_size, crop_size, seed

    def __iter__(self):
        refs = [p for p in load_reference_photos() if p["name"] in ("astronaut", "coffee", "hubble_deep_field", "rocket")]
        images, mos, dist = [], [], []
        for p in refs:
            for d in DISTORTIONS:
                for level in range(1, 6):
                    images.append(distort(p["image"], d, level, seed=0, reference_name=p["name"]))
                    mos.append(quality_target(d, level))
                    dist.append(DISTORTION_CLASSES.index(d.distortion_class))
        rng = np.random.default_rng(self.seed)
        s = self.crop_size
        while True:
            idx = rng.integers(len(images), size=self.batch_size)
            crops = []
            for i in idx:
                img = images[i]
                top, left = rng.integers(0, img.shape[0] - s + 1), rng.integers(0, img.shape[1] - s + 1)
                crop = img[top : top + s, left : left + s]
                crops.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
            yield {
                "pixel_values": to_tensor(np.stack(crops)),
                "mos": torch.tensor([mos[i] for i in idx], dtype=torch.float32),
                "distortion": torch.tensor([dist[i] for i in idx]),
                "group": torch.zeros(self.batch_size, dtype=torch.long),
            }


def _ladder_producer(queue, crop_size, seed, type_ids, config_dict, front_state, threads=1):
    """Separate process: generate ladders forever, pass them through the frozen front, and put
    (CLS tokens (levels + 1, width), mos, distortion class) on `queue`."""
    torch.set_num_threads(threads)
    model = LIQEModel(LIQEConfig.from_dict(config_dict)).eval()
    model.load_state_dict(front_state, strict=False)
    sampler = LadderSampler(load_photos(TRAINING_PHOTOS), crop_size=crop_size, seed=seed, type_ids=type_ids)
    while True:
        ladder = sampler.sample()
        with torch.no_grad():
            cls = cls_after_front(model, to_tensor(ladder.images))
        queue.put((cls, ladder.mos, ladder.distortion_class))


def cls_after_front(model, pixel_values):
    """The CLS token after the frozen hand-built blocks 1-2 (block 3's attention is frozen at zero)."""
    vision = model.clip.vision_model
    hidden = vision.pre_layrnorm(vision.embeddings(pixel_values))
    for layer in vision.encoder.layers[:2]:
        hidden = layer(hidden, None)
        hidden = hidden[0] if isinstance(hidden, tuple) else hidden
    return hidden[:, 0]


def readout(model, cls):
    """LIQE's forward from a cached CLS token: block 3+ MLPs (their attention is frozen at zero), post-LN,
    projection, cosine with the prompts, one softmax, marginals, score. Same maths as LIQEModel.forward."""
    vision = model.clip.vision_model
    x = cls
    for layer in vision.encoder.layers[2:]:
        x = x + layer.mlp(layer.layer_norm2(x))
    features = model.clip.visual_projection(vision.post_layernorm(x))
    features = features / features.norm(dim=-1, keepdim=True)
    logits = model.clip.logit_scale.exp() * features @ model.prompt_features().t()
    joint = logits.softmax(dim=-1)
    marginals = model.marginals(joint)
    weights = torch.tensor(model.config.axis(model.config.quality_axis)["weights"], dtype=joint.dtype)
    return marginals[model.config.quality_axis] @ weights, marginals


# -- evaluation sets ---------------------------------------------------------------------------------------


def unseen_distort(image, kind, level):
    """Ordinary distortions implemented independently of the training code (PIL / numpy), levels 1..5."""
    from PIL import Image, ImageFilter

    pil = Image.fromarray(image)
    if kind == "blur":
        return np.asarray(pil.filter(ImageFilter.GaussianBlur(radius=(0.7, 1.2, 1.8, 2.7, 4.0)[level - 1])))
    if kind == "jpeg":
        import io

        buffer = io.BytesIO()
        pil.save(buffer, "JPEG", quality=(50, 30, 18, 10, 5)[level - 1])
        return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    if kind == "noise":
        rng = np.random.default_rng(1234 + level)
        sigma = (6, 12, 20, 30, 45)[level - 1]
        return np.clip(image.astype(np.float32) + rng.normal(0, sigma, image.shape), 0, 255).round().astype(np.uint8)
    if kind == "underexposure":
        # Exposure in linear light: scale the linearised sRGB values (not the training set's gamma).
        x = (image.astype(np.float32) / 255.0) ** 2.2 * (0.55, 0.35, 0.2, 0.1, 0.05)[level - 1]
        return np.clip(np.rint(x ** (1 / 2.2) * 255), 0, 255).astype(np.uint8)
    raise ValueError(kind)


UNSEEN_KINDS = ("blur", "jpeg", "noise", "underexposure")


def centre_window(image, size):
    h, w = image.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return image[top : top + size, left : left + size]


def grid_windows(image, size, count=3, stride=32):
    """`count` windows along the diagonal, on the processor's `stride`-px grid (so an 8-px JPEG grid stays aligned)."""
    h, w = image.shape[:2]
    tops = (np.linspace(0, h - size, count) // stride * stride).astype(int)
    lefts = (np.linspace(0, w - size, count) // stride * stride).astype(int)
    return [image[t : t + size, l : l + size] for t, l in zip(tops, lefts)]


def build_eval_sets(size, cache_dir="/tmp/liqe_demo_eval"):
    """The fast in-training evaluation sets (one centre window per synthetic image, 3 per unseen image),
    cached as a pickle under `cache_dir` (they take minutes to build on a loaded 2-core machine)."""
    import pickle

    cache = Path(cache_dir) / f"eval_sets_{size}.pkl"
    if cache.exists():
        with open(cache, "rb") as f:
            synth = pickle.load(f)[0]
        return synth, _build_unseen_set(size)  # cheap: always rebuilt
    sets = _build_eval_sets(size)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache.with_suffix(".tmp"), "wb") as f:
        pickle.dump(sets, f)
    cache.with_suffix(".tmp").rename(cache)
    return sets


def _build_eval_sets(size):
    from datasets_scripts.ladders import UNSEEN_PHOTOS

    synth = {"windows": [], "ref": [], "type": [], "level": [], "mos": [], "class": []}
    for photo in load_reference_photos():
        if photo["name"] not in SYNTHETIC_TEST_REFS:
            continue
        for d in DISTORTIONS:
            for level in range(1, 6):
                img = distort(photo["image"], d, level, seed=0, reference_name=photo["name"])
                synth["windows"].append(centre_window(img, size))
                synth["ref"].append(photo["name"])
                synth["type"].append(d.type_id)
                synth["level"].append(level)
                synth["mos"].append(quality_target(d, level))
                synth["class"].append(DISTORTION_CLASSES.index(d.distortion_class))
    return synth, _build_unseen_set(size)


def _build_unseen_set(size):
    from datasets_scripts.ladders import UNSEEN_PHOTOS

    unseen = {"windows": [], "group": [], "level": []}
    for photo in load_photos(UNSEEN_PHOTOS):
        for kind in UNSEEN_KINDS:
            for level in range(0, 6):
                img = photo["image"] if level == 0 else unseen_distort(photo["image"], kind, level)
                unseen["windows"].append(np.stack(grid_windows(img, size, 3)))
                unseen["group"].append(f"{photo['name']}/{kind}")
                unseen["level"].append(level)
    return unseen


@torch.no_grad()
def run_model(model, windows, chunk=64):
    """windows: (N, P, S, S, 3) or (N, S, S, 3) uint8 -> score (N,), distortion probs (N, 11)."""
    windows = np.asarray(windows)
    if windows.ndim == 4:
        windows = windows[:, None]
    n, p = windows.shape[:2]
    scores, dists = [], []
    for start in range(0, n, chunk):
        part = windows[start : start + chunk]
        x = to_tensor(part.reshape(-1, *part.shape[2:])).reshape(part.shape[0], p, 3, part.shape[2], part.shape[3])
        out = model(pixel_values=x)
        scores.append(out.score)
        dists.append(out.distortion_probs if out.distortion_probs is not None else torch.zeros(len(part), 11))
    return torch.cat(scores).numpy(), torch.cat(dists).numpy()


def evaluate(model, synth, unseen):
    was_training = model.training
    model.eval()
    score, dist = run_model(model, synth["windows"])
    ref, typ, mos, cls = map(np.asarray, (synth["ref"], synth["type"], synth["mos"], synth["class"]))
    per_group = {}
    for r in set(ref.tolist()):
        for t in set(typ.tolist()):
            m = (ref == r) & (typ == t)
            value = srcc(score[m], mos[m])
            per_group[(r, t)] = 0.0 if value is None or not np.isfinite(value) else float(value)
    class_srcc, class_acc = {}, {}
    pred_cls = dist.argmax(1)
    for c in sorted(set(cls.tolist())):
        groups = [v for (r, t), v in per_group.items() if DISTORTION_CLASSES.index(DISTORTIONS[t - 1].distortion_class) == c]
        class_srcc[DISTORTION_CLASSES[c]] = round(float(np.mean(groups)), 3)
        class_acc[DISTORTION_CLASSES[c]] = round(float((pred_cls[cls == c] == c).mean()), 3)
    u_score, _ = run_model(model, unseen["windows"])
    group, level = np.asarray(unseen["group"]), np.asarray(unseen["level"])
    unseen_by_kind = {}
    for g in sorted(set(group.tolist())):
        m = group == g
        value = srcc(u_score[m], -level[m])
        unseen_by_kind.setdefault(g.split("/")[1], []).append(0.0 if value is None or not np.isfinite(value) else float(value))
    unseen_kind = {k: round(float(np.mean(v)), 3) for k, v in unseen_by_kind.items()}
    model.train(was_training)
    return {
        "synth_srcc": round(float(np.mean(list(per_group.values()))), 4),
        "synth_acc": round(float((pred_cls == cls).mean()), 4),
        "synth_class_srcc": class_srcc,
        "synth_class_acc": class_acc,
        "unseen_srcc": round(float(np.mean([v for vs in unseen_by_kind.values() for v in vs])), 4),
        "unseen_kind_srcc": unseen_kind,
        "score_range": [round(float(score.min()), 3), round(float(score.max()), 3)],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None)
    parser.add_argument("--recipe", choices=["ladders", "naive", "cached"], default="ladders",
                        help="cached: frozen hand-built front (needs --nss-init, 3 layers); ladders are generated in a "
                        "separate process, their CLS tokens cached, and the readout trained on the growing cache")
    parser.add_argument("--minutes", type=float, default=15)
    parser.add_argument("--eval-every", type=float, default=3.0, help="minutes between evaluations")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", default="quality_distortion")
    parser.add_argument("--width", type=int, default=192)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--patch", type=int, default=16)
    parser.add_argument("--image", type=int, default=224)
    parser.add_argument("--embed", type=int, default=64)
    parser.add_argument("--text-width", type=int, default=64)
    parser.add_argument("--text-layers", type=int, default=1)
    parser.add_argument("--ladders", type=int, default=6, help="ladders per step (6 images each)")
    parser.add_argument("--batch", type=int, default=32, help="naive recipe: images per step")
    parser.add_argument("--types", default="", help="comma-separated distortion type ids (default all 25)")
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--rank-weight", type=float, default=1.0)
    parser.add_argument("--dist-weight", type=float, default=1.0)
    parser.add_argument("--ce-weight", type=float, default=1.0, help="cross-entropy of the quality marginal vs round(mos)")
    parser.add_argument("--logit-scale", type=float, default=10.0)
    parser.add_argument("--learn-logit-scale", action="store_true")
    parser.add_argument("--dct-init", action="store_true")
    parser.add_argument("--nss-init", action="store_true", help="hand-built natural-scene-statistics start (modeling_liqe/nss_init.py)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-reuse", type=float, default=0.0,
                        help="cached recipe: wait for new ladders once each cached ladder was drawn this often on average (0: never)")
    parser.add_argument("--pool", type=int, default=0, help="ladders kept in the worker's pool (0: every ladder new)")
    parser.add_argument("--refresh", type=int, default=2, help="new ladders per step when pooling")
    parser.add_argument("--freeze-vision-minutes", type=float, default=0.0,
                        help="train only the projection, text tower and logit scale for the first minutes")
    parser.add_argument("--vision-lr-scale", type=float, default=1.0, help="vision tower lr = lr x this")
    parser.add_argument("--freeze-nss-front", action="store_true",
                        help="keep the hand-built filter bank and blocks 1-2 fixed for the whole run (train block 3+, projection, text)")
    parser.add_argument("--config", default=None, help="YAML file of these options (keys with underscores); the command line wins")
    args = parser.parse_args(argv)
    if args.config:
        import yaml

        with open(args.config) as f:
            values = yaml.safe_load(f) or {}
        unknown = sorted(k for k in values if not hasattr(args, k))
        if unknown:
            raise SystemExit(f"{args.config}: unknown keys {unknown}")
        explicit = {a.dest for a in parser._actions for flag in a.option_strings if flag in (argv if argv is not None else sys.argv[1:])}
        for key, value in values.items():
            if key not in explicit:
                setattr(args, key, value)

    if not args.out:
        raise SystemExit("--out (or 'out' in --config) is required")
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model, processor, geometry = build_model(args)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params / 1e6:.2f} M parameters, geometry {geometry}", flush=True)
    synth, unseen = build_eval_sets(args.image)
    type_ids = [int(t) for t in args.types.split(",")] if args.types else None
    if args.recipe == "cached":
        return train_cached(args, model, processor, synth, unseen, out, type_ids)
    if args.recipe == "ladders":
        stream = LadderStream(args.ladders, args.image, args.seed, type_ids, pool=args.pool, refresh=args.refresh)
    else:
        stream = NaiveStream(args.batch, args.image, args.seed)
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=args.workers, prefetch_factor=4 if args.workers else None)
    if args.freeze_nss_front:
        vm = model.clip.vision_model
        for module in (vm.embeddings, vm.pre_layrnorm, *vm.encoder.layers[:2]):
            module.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    vision = [p for p in model.clip.vision_model.parameters() if p.requires_grad]
    vision_ids = {id(p) for p in vision}
    head = [p for p in params if id(p) not in vision_ids]
    groups = []
    for members, scale in ((head, 1.0), (vision, args.vision_lr_scale)):
        groups.append({"params": [p for p in members if p.dim() >= 2], "weight_decay": args.weight_decay, "lr_scale": scale})
        groups.append({"params": [p for p in members if p.dim() < 2], "weight_decay": 0.0, "lr_scale": scale})
    optimizer = torch.optim.AdamW(groups, lr=args.lr)
    total_seconds = args.minutes * 60
    curve_path = out / "curve.jsonl"
    curve_path.write_text("")
    with open(out / "args.json", "w") as f:
        json.dump({**vars(args), "geometry": geometry, "parameters": n_params, "photos": sorted(TRAINING_PHOTOS),
                   "photo_crc": photo_fingerprint(load_photos(TRAINING_PHOTOS))}, f, indent=1)

    def log(step, train_seconds, losses):
        metrics = evaluate(model, synth, unseen)
        record = {"step": step, "minutes": round(train_seconds / 60, 2), "lr": optimizer.param_groups[0]["lr"],
                  "logit_scale": round(float(model.clip.logit_scale.exp()), 3), **losses, **metrics}
        with open(curve_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)

    train_seconds, step, sums = 0.0, 0, {}
    log(0, 0.0, {})
    next_eval = args.eval_every * 60
    iterator = iter(loader)
    while train_seconds < total_seconds:
        t0 = time.time()
        batch = next(iterator)
        # lr: linear warm-up, then cosine over the time budget (steps are unknown in advance).
        progress = min(1.0, train_seconds / total_seconds)
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]
        frozen = train_seconds < args.freeze_vision_minutes * 60
        for p in vision:
            p.requires_grad_(not frozen)
        outputs = model(pixel_values=batch["pixel_values"].unsqueeze(1))
        score, quality_probs = outputs.score, outputs.quality_probs
        losses = {"rank": quality_ranking_loss(score, batch["mos"], group_ids=batch["group"])}
        labelled = batch["distortion"] >= 0
        if outputs.distortion_probs is not None and bool(labelled.any()):
            losses["dist"] = single_label_fidelity_loss(outputs.distortion_probs[labelled], batch["distortion"][labelled])
        target = (batch["mos"].round().clamp(1, 5) - 1).long()
        losses["ce"] = -torch.log(quality_probs.gather(1, target[:, None]).squeeze(1) + 1e-6).mean()
        loss = args.rank_weight * losses["rank"] + args.dist_weight * losses.get("dist", 0) + args.ce_weight * losses["ce"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # Clipped apart: the hand-built vision weights are large (their gradients too) and would otherwise
        # shrink every update of the projection and the prompts.
        torch.nn.utils.clip_grad_norm_(head, 1.0)
        if not frozen:
            torch.nn.utils.clip_grad_norm_(vision, 1.0)
        optimizer.step()
        with torch.no_grad():
            model.clip.logit_scale.clamp_(0, math.log(100))
        step += 1
        train_seconds += time.time() - t0
        for k, v in losses.items():
            sums.setdefault(k, []).append(float(v.detach()))
        if train_seconds >= next_eval or train_seconds >= total_seconds:
            log(step, train_seconds, {f"loss_{k}": round(float(np.mean(v)), 4) for k, v in sums.items()})
            sums = {}
            next_eval += args.eval_every * 60
    model.eval()
    save_model_folder(out / "model", model, processor)
    print(f"saved {out / 'model'} after {step} steps, {train_seconds / 60:.1f} min", flush=True)


def train_cached(args, model, processor, synth, unseen, out, type_ids):
    import multiprocessing as mp
    import queue as queue_module

    if not args.nss_init or args.layers < 3:
        raise SystemExit("--recipe cached needs --nss-init and --layers >= 3")
    vision = model.clip.vision_model
    for module in (vision.embeddings, vision.pre_layrnorm, *vision.encoder.layers[:2]):
        module.requires_grad_(False)
    for layer in vision.encoder.layers[2:]:
        layer.self_attn.requires_grad_(False)
        layer.layer_norm1.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    context = mp.get_context("spawn")
    ladder_queue = context.Queue(maxsize=64)
    front_state = {k: v.detach().clone() for k, v in model.state_dict().items() if k.startswith("clip.vision_model.")}
    producers = [context.Process(target=_ladder_producer, daemon=True,
                                 args=(ladder_queue, args.image, args.seed + 17 * k, type_ids, model.config.to_dict(), front_state))
                 for k in range(max(1, args.workers))]
    for producer in producers:
        producer.start()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally below: no orphaned producers
    try:
        _train_cached_loop(args, model, processor, synth, unseen, out, params, optimizer, ladder_queue, queue_module)
    finally:
        for producer in producers:
            producer.terminate()


def _train_cached_loop(args, model, processor, synth, unseen, out, params, optimizer, ladder_queue, queue_module):
    cache_cls, cache_mos, cache_dist = [], [], []
    curve_path = out / "curve.jsonl"
    rng = np.random.default_rng(args.seed)
    total_seconds = args.minutes * 60
    train_seconds, step, sums = 0.0, 0, {}
    next_eval = args.eval_every * 60

    def log(losses):
        metrics = evaluate(model, synth, unseen)
        record = {"step": step, "minutes": round(train_seconds / 60, 2), "ladders_cached": len(cache_cls), "lr": optimizer.param_groups[0]["lr"],
                  "logit_scale": round(float(model.clip.logit_scale.exp()), 3), **losses, **metrics}
        with open(curve_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)

    log({})
    model.train()
    while train_seconds < total_seconds:
        t0 = time.time()
        fresh = []
        while len(fresh) < 64:
            try:
                fresh.append(ladder_queue.get(timeout=0.5) if len(cache_cls) < args.ladders else ladder_queue.get_nowait())
            except queue_module.Empty:
                break
        if fresh:
            cache_cls.extend(f[0] for f in fresh)
            cache_mos.extend(torch.from_numpy(f[1]) for f in fresh)
            cache_dist.extend(torch.from_numpy(f[2]) for f in fresh)
        if len(cache_cls) < args.ladders:
            train_seconds += time.time() - t0
            continue
        if args.max_reuse and step * args.ladders >= args.max_reuse * len(cache_cls):
            # Every cached ladder has been drawn max_reuse times on average: wait for new ones (the readout
            # overfits the cache otherwise, research/LOG.md).
            try:
                fresh = [ladder_queue.get(timeout=1.0)]
                cache_cls.append(fresh[0][0])
                cache_mos.append(torch.from_numpy(fresh[0][1]))
                cache_dist.append(torch.from_numpy(fresh[0][2]))
            except queue_module.Empty:
                pass
            train_seconds += time.time() - t0
            continue
        progress = min(1.0, train_seconds / total_seconds)
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        chosen = rng.choice(len(cache_cls), size=args.ladders, replace=False)
        cls = torch.cat([cache_cls[k] for k in chosen])
        mos = torch.cat([cache_mos[k] for k in chosen])
        dist = torch.cat([cache_dist[k] for k in chosen])
        group_ids = torch.repeat_interleave(torch.arange(len(chosen)), len(cache_mos[chosen[0]]))
        score, marginals = readout(model, cls)
        losses = {"rank": quality_ranking_loss(score, mos, group_ids=group_ids)}
        labelled = dist >= 0
        losses["dist"] = single_label_fidelity_loss(marginals["distortion"][labelled], dist[labelled])
        target = (mos.round().clamp(1, 5) - 1).long()
        losses["ce"] = -torch.log(marginals["quality"].gather(1, target[:, None]).squeeze(1) + 1e-6).mean()
        loss = args.rank_weight * losses["rank"] + args.dist_weight * losses["dist"] + args.ce_weight * losses["ce"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        with torch.no_grad():
            model.clip.logit_scale.clamp_(0, math.log(100))
        step += 1
        for k, v in losses.items():
            sums.setdefault(k, []).append(float(v.detach()))
        train_seconds += time.time() - t0
        if train_seconds >= next_eval or train_seconds >= total_seconds:
            log({f"loss_{k}": round(float(np.mean(v)), 4) for k, v in sums.items()})
            sums = {}
            next_eval += args.eval_every * 60
    if sums:  # the last evaluation is skipped when the loop ended while waiting for new ladders
        log({f"loss_{k}": round(float(np.mean(v)), 4) for k, v in sums.items()})
    model.eval()
    save_model_folder(out / "model", model, processor)
    print(f"saved {out / 'model'} after {step} steps on {len(cache_cls)} ladders, {train_seconds / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
