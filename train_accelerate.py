#!/usr/bin/env python
# coding=utf-8
# Copyright 2026 The liqe authors.
"""Train LIQE (CVPR 2023) with Accelerate: one CPU, two CPU processes, one GPU, many GPUs or nodes.

    accelerate launch train_accelerate.py                                  # configs/synthetic_demo.yaml
    accelerate launch train_accelerate.py --config configs/liqe_six_corpora.yaml
    accelerate launch train_accelerate.py --config configs/synthetic_demo.yaml --learning_rate 1e-4 --seed 3

Arguments are three dataclasses (`ModelArguments`, `DataArguments`, `TrainingArguments`) read with
`HfArgumentParser`: first the YAML file given by `--config` (default: `configs/synthetic_demo.yaml`), then the
command line, which overrides it. The recipe is the paper's (LIQE_SPEC.md sections 4-5): every step takes its own
batch of EVERY corpus (one shuffled pass per corpus, restarted when exhausted), the quality loss compares images
of one corpus only, the scene and distortion losses cover the whole step, and Dynamic Weight Average weighs the
three tasks per epoch. Each epoch ends with an evaluation of every corpus's validation and test splits; the best
model by mean validation SRCC is written as a Hub-ready folder (`best_model/`).

Outputs in `--output_dir`: `checkpoint-<step>/` (`save_state`: model, optimizer, scheduler, RNG and the
`TrainingState` with DWA and the step count; `--resume_from_checkpoint latest` continues from the newest),
`best_model/` and `final_model/` (`save_pretrained` folders with remote code, processor, prompt features and a
model card), `train_log.jsonl` (one line per optimizer step), `eval_results.jsonl` (one line per evaluation) and
`eval_predictions.json` (the per-image scores of the latest evaluation). With `--ema_decay`, evaluations,
`best_model/` and `final_model/` use an exponential moving average of the weights, kept in every checkpoint as
`ema.safetensors` (modeling_liqe/weight_average.py).
"""

import argparse
import json
import logging
import math
import os
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import List, Optional

import torch
import transformers
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, set_seed
from tqdm.auto import tqdm
from transformers import HfArgumentParser

from modeling_liqe.evaluation import evaluate_corpora, flatten, mean_over_corpora
from modeling_liqe.losses import quality_level_cross_entropy, quality_ranking_loss
from modeling_liqe.train_data import eval_dataloader, load_corpora, train_dataloader
from modeling_liqe.train_state import TrainingState

logger = get_logger(__name__)

REPO_ROOT = Path(__file__).resolve().parent
DEFAULT_CONFIG = REPO_ROOT / "configs" / "synthetic_demo.yaml"
CHECKPOINT_PREFIX = "checkpoint-"
LADDER_CORPUS = "ladders"  # the name under which on-the-fly ladders are counted (pairs, errors)
# DWA task order of the spec: quality, distortion, scene.
TASKS = (("quality", "loss_quality"), ("distortion", "loss_distortion"), ("scene", "loss_scene"))


@dataclass
class ModelArguments:
    """Where the model starts: a transformers CLIP, a LIQE folder, or random weights at a named geometry."""

    model_name_or_path: Optional[str] = field(
        default=None,
        metadata={"help": "A transformers CLIP (Hub id or folder; LIQEModel.from_clip) or a LIQE folder (a converted "
                          "checkpoint or an earlier run). Unset: random weights at --geometry."},
    )
    geometry: str = field(default="small", metadata={"help": "Named geometry for a from-scratch start (modeling_liqe.geometries)."})
    embed_dim: Optional[int] = field(default=None, metadata={"help": "Override: projection size."})
    vision_width: Optional[int] = field(default=None, metadata={"help": "Override: vision tower width."})
    vision_layers: Optional[int] = field(default=None, metadata={"help": "Override: vision tower layers."})
    vision_patch_size: Optional[int] = field(default=None, metadata={"help": "Override: ViT patch size (px)."})
    text_width: Optional[int] = field(default=None, metadata={"help": "Override: text tower width."})
    text_layers: Optional[int] = field(default=None, metadata={"help": "Override: text tower layers."})
    variant: str = field(default="full", metadata={"help": "Prompt set: full, quality_scene, quality_distortion, quality."})
    init_seed: Optional[int] = field(default=None, metadata={"help": "Seed of the random initialisation (default: --seed)."})
    logit_scale_init: Optional[float] = field(
        default=None,
        metadata={"help": "Initial logit scale (log of the inverse temperature). Default: ln 100 from scratch, the "
                          "checkpoint's own value otherwise."},
    )
    learnable_logit_scale: bool = field(default=False, metadata={"help": "Train the logit scale (the paper freezes it)."})
    freeze_text_tower: bool = field(default=False, metadata={"help": "Keep the text tower (and its projection) fixed."})
    max_logit_scale: float = field(
        default=100.0, metadata={"help": "A learnable logit scale is clamped to ln of this after every step (CLIP's 100)."})
    vision_init: str = field(
        default="random",
        metadata={"help": "From scratch: 'random' (CLIP's initialisation), 'nss', the hand-built natural-scene-"
                          "statistics start (modeling_liqe/nss_init.py: a filter bank and two fixed blocks; needs "
                          "patch 32 or 16, >= 2 vision layers, width >= 192), standardised on training ladders, or "
                          "'nss_spread', the same plus a third fixed block pooling per-patch statistics across the "
                          "window as soft maxima / minima (needs >= 4 layers and >= 11 heads: --geometry demo-spread)."},
    )
    nss_calibration_ladders: int = field(default=12, metadata={"help": "vision_init nss: ladders to standardise on."})
    nss_luminance_normalised: bool = field(
        default=False,
        metadata={"help": "vision_init nss / nss_spread: the front's log energies become log Weber contrasts (minus "
                          "the log of the window's or the patch's mean luminance), so that a photo whose light is "
                          "scaled keeps its energies and shows its exposure only in the luminance features."},
    )
    freeze: List[str] = field(
        default_factory=list,
        metadata={"help": "Regular expressions: parameters whose name matches one (re.search) stay fixed, e.g. "
                          "'clip\\.vision_model\\.embeddings'. 'nss_front' names the NSS start's fixed part (filter "
                          "bank, blocks 1-2 (1-3 with nss_spread), and the attention of later blocks, which the "
                          "construction keeps at zero)."},
    )


@dataclass
class DataArguments:
    """The corpora: folders written by datasets_scripts/ or Hub dataset ids, each with a session and a batch size."""

    dataset_names: List[str] = field(
        default_factory=lambda: ["data/synthetic"],
        metadata={"help": "Corpora: folders written by datasets_scripts/ or Hub dataset ids (org/name)."},
    )
    corpus_names: List[str] = field(default_factory=list, metadata={"help": "Names in logs (default: the corpus column)."})
    sessions: List[str] = field(
        default_factory=list,
        metadata={"help": "Per corpus (or one for all): a LIQE session 1..10, a split-table name (seeded, official), "
                          "or 'partition' for the stored partition. Default: the stored partition."},
    )
    train_batch_sizes: List[int] = field(default_factory=lambda: [16], metadata={"help": "Images a step, per corpus (or one for all)."})
    eval_splits: List[str] = field(default_factory=lambda: ["validation", "test"], metadata={"help": "Splits evaluated each epoch."})
    eval_batch_size: int = field(default=8, metadata={"help": "Images per evaluation batch and process."})
    dataloader_num_workers: int = field(default=1, metadata={"help": "DataLoader workers (decoding, window cutting)."})
    dataset_revision: Optional[str] = field(default=None, metadata={"help": "Hub revision of Hub dataset ids."})
    synthetic_dir: Optional[str] = field(
        default="data/synthetic",
        metadata={"help": "When a corpus named in dataset_names is this folder and it is absent, the embedded "
                          "synthetic corpus is built there first."},
    )
    synthetic_levels: int = field(default=5, metadata={"help": "Synthetic corpus: levels per distortion (1-5)."})
    synthetic_distortions: List[int] = field(default_factory=list, metadata={"help": "Synthetic corpus: KADID type ids (default: all 25)."})
    synthetic_image_size: int = field(default=384, metadata={"help": "Synthetic corpus: image side (px)."})
    synthetic_seed: int = field(default=0, metadata={"help": "Synthetic corpus: seed of distortions and split."})
    train_source: str = field(
        default="corpora",
        metadata={"help": "'corpora': the training splits of dataset_names (the paper). 'ladders': level ladders of "
                          "bundled photos generated on the fly (modeling_liqe/ladder_data.py), ranking pairs inside a "
                          "ladder; dataset_names are then only evaluated."},
    )
    ladders_per_step: int = field(default=16, metadata={"help": "ladders: ladders a step and process (6 images each)."})
    new_ladders_per_step: int = field(default=1, metadata={"help": "ladders: new ones a step; the rest are re-drawn from the pool."})
    ladder_pool: int = field(default=256, metadata={"help": "ladders: re-draws come from this many recent ladders."})
    ladder_distortions: List[int] = field(default_factory=list, metadata={"help": "ladders: KADID type ids (default: all 25)."})
    ladder_photos: str = field(
        default="bundled",
        metadata={"help": "ladders: 'bundled' (the 10 photos of datasets_scripts/ladders.py TRAINING_PHOTOS) or "
                          "'bundled+' (and its 3 EXTRA_TRAINING_PHOTOS, the --validation_photos) or 'bundled+colour' (and its 4 "
                          "MORE_COLOUR_PHOTOS, from the sporco wheel: fine colour texture)."},
    )
    ladder_dead_leaves: int = field(
        default=0,
        metadata={"help": "ladders: this many procedural dead-leaves references (datasets_scripts/dead_leaves.py, "
                          "seed 0) join the photos: more references than the few bundled photos."},
    )
    ladder_dead_leaves_texture: float = field(
        default=0.0,
        metadata={"help": "ladders: the dead-leaves discs carry 1/f texture of contrast up to this (0: flat discs), "
                          "so that fine natural texture is not learnt as noise."},
    )
    ladder_exposure_jitter: float = field(
        default=0.0,
        metadata={"help": "ladders: scale each reference crop's linear light by exp(U(-a, a)) before its ladder is "
                          "made, so that the references span a range of exposures (0: none)."},
    )
    ladder_tint_grey: float = field(
        default=0.0,
        metadata={"help": "ladders: colour a grey photo's crop with this probability by a random two-colour ramp "
                          "(its chroma then follows its luminance, as in foliage), so that fine colour texture in a "
                          "pristine photo is not learnt as a distortion (0: grey photos stay grey)."},
    )
    ladder_sky_dead_leaves: int = field(
        default=0,
        metadata={"help": "ladders: this many more procedural dead-leaves references with a bright hazy sky behind "
                          "the discs (datasets_scripts/dead_leaves.py, sky=True), so that a large bright region is "
                          "part of a pristine scene, not only of over-exposure (0: none)."},
    )
    ladder_linear_darken: float = field(
        default=0.0,
        metadata={"help": "ladders: make a Darken ladder with this probability as a camera under-exposes (linear "
                          "light times a gain per level, highlights darkened too) instead of the corpus's gamma curve "
                          "(0: always the gamma curve)."},
    )
    ladder_sky_composite: float = field(
        default=0.0,
        metadata={"help": "ladders: give a reference crop with this probability a bright hazy sky over its upper part "
                          "(datasets_scripts/ladders.py composite_sky), so that a large bright region of a photo is "
                          "part of a pristine scene, not only of over-exposure (0: never)."},
    )
    validation_photos: List[str] = field(
        default_factory=list,
        metadata={"help": "Photos of datasets_scripts/ladders.py EXTRA_TRAINING_PHOTOS (motorcycle, moon, cell; or "
                          "'extra' for all) made into one more validation split, corpus 'photos': every synthetic "
                          "distortion at 5 levels, seeded as the synthetic corpus. Its metrics count in the selection "
                          "beside the corpora's validation splits (the synthetic seed-0 split has one photo)."},
    )
    cache_frozen_front: bool = field(
        default=False,
        metadata={"help": "ladders with the NSS start and freeze nss_front: the DataLoader worker runs the fixed front "
                          "once per image and the step trains from its output (modeling_liqe/frozen_front.py; same "
                          "maths, checked at start, ~10x faster)."},
    )


SELECTION_METRICS = ("srcc", "level_rank_srcc", "level_rank_srcc+distortion_accuracy", "last")


@dataclass
class TrainingArguments:
    """Optimisation, schedule, checkpoints, trackers and publishing."""

    output_dir: str = field(default="outputs/liqe-synthetic-demo")
    seed: int = field(default=20200626, metadata={"help": "Seed of the batches, windows and initialisation."})
    learning_rate: float = field(default=5e-6, metadata={"help": "AdamW learning rate (the vision tower and the rest)."})
    text_learning_rate: Optional[float] = field(default=None, metadata={"help": "Learning rate of the text tower (default: --learning_rate)."})
    logit_scale_learning_rate: Optional[float] = field(default=None, metadata={"help": "Learning rate of a learnable logit scale."})
    weight_decay: float = field(default=1e-3)
    adam_beta1: float = field(default=0.9)
    adam_beta2: float = field(default=0.999)
    adam_epsilon: float = field(default=1e-8)
    num_train_epochs: int = field(default=80)
    steps_per_epoch: int = field(default=200, metadata={"help": "Optimizer steps an epoch (the paper: 200)."})
    max_train_steps: Optional[int] = field(default=None, metadata={"help": "Stop after this many optimizer steps in all."})
    lr_scheduler_type: str = field(
        default="cosine_epochs",
        metadata={"help": "cosine_epochs (the paper: cosine of period --lr_period_epochs, stepped per epoch, lr 0 at "
                          "epochs 5, 15, ...) or any transformers scheduler name (linear, cosine, constant, ...)."},
    )
    lr_period_epochs: int = field(default=5, metadata={"help": "cosine_epochs: epochs from the top lr to 0."})
    num_warmup_steps: int = field(default=0, metadata={"help": "Linear warm-up, in optimizer steps."})
    gradient_accumulation_steps: int = field(default=1)
    max_grad_norm: Optional[float] = field(default=None, metadata={"help": "Clip the gradient norm (unset or 0: no clipping)."})
    mixed_precision: Optional[str] = field(default=None, metadata={"help": "no, fp16, bf16 (default: accelerate's config)."})
    dwa_temperature: float = field(default=2.0, metadata={"help": "Dynamic Weight Average temperature T."})
    task_weighting: str = field(default="dwa", metadata={"help": "'dwa' (the paper) or 'fixed' (every task weight 1)."})
    distortion_loss_weight: float = field(
        default=1.0,
        metadata={"help": "task_weighting fixed: the distortion task's weight (the others keep 1). The fidelity loss "
                          "of an 11-way marginal is small beside the quality task's, so a weight above 1 trains the "
                          "distortion readout harder (research/LOG.md, session 17)."},
    )
    quality_ce_weight: float = field(
        default=0.0,
        metadata={"help": "Weight of an extra loss (not in the paper): cross-entropy of the quality marginal against "
                          "round(MOS) as a level 1..5; only for MOS on a 1-5 scale (the synthetic corpus, ladders)."},
    )
    checkpointing_steps: Optional[int] = field(default=None, metadata={"help": "Also save_state every N optimizer steps."})
    checkpoint_every_epoch: bool = field(default=True, metadata={"help": "save_state at the end of every epoch."})
    checkpoints_total_limit: Optional[int] = field(default=None, metadata={"help": "Keep only the newest N checkpoints."})
    resume_from_checkpoint: Optional[str] = field(default=None, metadata={"help": "'latest' or a checkpoint folder."})
    eval_every_epochs: int = field(default=1, metadata={"help": "Evaluate every N epochs (and after the last step)."})
    selection_metric: str = field(
        default="srcc",
        metadata={"help": "What best_model maximises, averaged over the corpora's validation splits: 'srcc' (whole-split "
                          "SRCC) or 'level_rank_srcc' (mean within-(reference, distortion type) SRCC of score vs "
                          "level; corpora without levels have none) or 'level_rank_srcc+distortion_accuracy' (their "
                          "sum: ranking and the distortion class) or 'last' (the final evaluation)."},
    )
    ema_decay: Optional[float] = field(
        default=None,
        metadata={"help": "Keep an exponential moving average of the weights with this decay (in (0, 1), e.g. 0.998; "
                          "bias-corrected: sum d^(t-i) w_i / sum d^(t-i)): evaluations, best_model and final_model use the "
                          "averaged weights; checkpoints hold both (ema.safetensors). Unset: no average."},
    )
    torch_threads: Optional[int] = field(
        default=None,
        metadata={"help": "Torch threads of each training process (default: what the launcher set, e.g. accelerate's "
                          "--num_cpu_threads_per_process). 1 suits a small model on a busy CPU: measured 0.06 s a step "
                          "against 0.49 s with 2 threads for the demo recipe on this project's 2-core machine."},
    )
    report_to: str = field(default="none", metadata={"help": "Trackers: none, all, or a comma list (tensorboard, trackio, wandb, ...)."})
    project_name: str = field(default="liqe", metadata={"help": "Tracker project name."})
    logging_steps: int = field(default=10, metadata={"help": "Log to the console every N steps."})
    push_to_hub: Optional[str] = field(default=None, metadata={"help": "ORG/NAME: upload best_model/ there at the end."})
    hub_private: bool = field(default=True, metadata={"help": "Create the Hub repository private."})
    hub_token: Optional[str] = field(default=None, metadata={"help": "Hub token (default: the logged-in one)."})


ARGUMENT_CLASSES = (ModelArguments, DataArguments, TrainingArguments)


class TrainingError(RuntimeError):
    """The run cannot go on (a non-finite loss, a corpus with no pair in an epoch)."""


# -- arguments ------------------------------------------------------------------------------------------------------
def parse_arguments(argv=None):
    """(model_args, data_args, training_args) from `--config FILE` (default: the synthetic demo) and the command line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    known, rest = pre.parse_known_args(argv)
    parser = HfArgumentParser(ARGUMENT_CLASSES, description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=None, help=f"YAML file of arguments (default: {DEFAULT_CONFIG.relative_to(REPO_ROOT)}; 'none' for none)")
    config = known.config if known.config is not None else str(DEFAULT_CONFIG)
    if config.lower() != "none":
        parser.set_defaults(**read_config(config))
    *dataclasses, namespace_rest = parser.parse_args_into_dataclasses(args=rest, return_remaining_strings=True)
    if namespace_rest:
        parser.error(f"unrecognised arguments: {' '.join(namespace_rest)}")
    return tuple(dataclasses[: len(ARGUMENT_CLASSES)])


def read_config(path):
    """The YAML file's arguments, checked against the dataclasses' fields (an unknown key names the file)."""
    import yaml

    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise SystemExit(f"{path}: cannot read the config file: {error}")
    except yaml.YAMLError as error:
        raise SystemExit(f"{path}: not valid YAML: {error}")
    if not isinstance(values, dict):
        raise SystemExit(f"{path}: expected a mapping of argument names to values, got {type(values).__name__}")
    known = {f.name for cls in ARGUMENT_CLASSES for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SystemExit(f"{path}: unknown arguments {unknown}; see `train_accelerate.py --help`")
    return values


# -- model ----------------------------------------------------------------------------------------------------------
def is_liqe_source(name_or_path):
    """True when the source is a LIQE model (its config says model_type liqe), False for a CLIP."""
    config_file = Path(name_or_path) / "config.json"
    if config_file.is_file():
        return json.loads(config_file.read_text(encoding="utf-8")).get("model_type") == "liqe"
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(name_or_path, trust_remote_code=True).model_type == "liqe"


def build_model(model_args, seed):
    """(model, processor): from a LIQE folder, from a transformers CLIP, or random at a named geometry."""
    from modeling_liqe import LIQEConfig, LIQEModel, LIQEProcessor
    from modeling_liqe.geometries import CLIP_LOGIT_SCALE, clip_config_for_geometry, set_logit_scale
    from modeling_liqe.model_folder import prepare_model_and_processor

    source = model_args.model_name_or_path
    if source and is_liqe_source(source):
        model = LIQEModel.from_pretrained(source)
        processor = LIQEProcessor.from_pretrained(source)
        logit_scale = model_args.logit_scale_init
        description = f"fine-tuned from the LIQE model {source}"
    elif source:
        model = LIQEModel.from_clip(source, variant=model_args.variant)
        model, processor = prepare_model_and_processor(model)
        logit_scale = model_args.logit_scale_init
        description = f"trained from the CLIP checkpoint {source}"
    else:
        overrides = {
            "embed": model_args.embed_dim, "vision_width": model_args.vision_width,
            "vision_layers": model_args.vision_layers, "patch": model_args.vision_patch_size,
            "text_width": model_args.text_width, "text_layers": model_args.text_layers,
        }
        config = LIQEConfig(clip_config=clip_config_for_geometry(model_args.geometry, **overrides), variant=model_args.variant)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed if model_args.init_seed is None else model_args.init_seed)
            model = LIQEModel(config)
        model, processor = prepare_model_and_processor(model)
        logit_scale = CLIP_LOGIT_SCALE if model_args.logit_scale_init is None else model_args.logit_scale_init
        description = f"trained from random weights at the {model_args.geometry} geometry"
        if model_args.vision_init in ("nss", "nss_spread"):
            from modeling_liqe.ladder_data import calibration_windows
            from modeling_liqe.nss_init import nss_init_

            image_processor = processor.image_processor
            calibration = calibration_windows(
                model_args.nss_calibration_ladders, config.clip_config.vision_config.image_size,
                image_processor.image_mean, image_processor.image_std, seed=seed,
            )
            try:
                nss_init_(model, seed=seed, calibration_images=calibration, spread=model_args.vision_init == "nss_spread",
                          luminance_normalised=model_args.nss_luminance_normalised)
            except ValueError as error:
                raise SystemExit(f"--vision_init {model_args.vision_init}: {error}")
            description = (f"trained from the hand-built natural-scene-statistics start (modeling_liqe/nss_init.py"
                           f"{', with pooling across the window' if model_args.vision_init == 'nss_spread' else ''}"
                           f"{', luminance-normalised energies' if model_args.nss_luminance_normalised else ''}) "
                           f"at the {model_args.geometry} geometry, no pretrained weights")
    if model_args.vision_init not in ("random", "nss", "nss_spread"):
        raise SystemExit(f"--vision_init must be 'random', 'nss' or 'nss_spread', got {model_args.vision_init!r}")
    if model_args.nss_luminance_normalised and model_args.vision_init == "random":
        raise SystemExit("--nss_luminance_normalised needs --vision_init nss or nss_spread (it shapes their fixed front)")
    if model_args.vision_init != "random" and source:
        raise SystemExit(f"--vision_init {model_args.vision_init} builds a vision tower from scratch: do not give "
                         f"--model_name_or_path with it")
    if logit_scale is not None:
        set_logit_scale(model, logit_scale)
    model.clip.logit_scale.requires_grad_(model_args.learnable_logit_scale)
    if model_args.freeze_text_tower:
        for parameter in text_parameters(model):
            parameter.requires_grad_(False)
    freeze_parameters(model, model_args.freeze, front_layers(model_args))
    model.train()
    return model, processor, description


def front_layers(model_args):
    """The NSS start's fixed blocks (modeling_liqe/nss_init.py): 2, or 3 when a third pools across the window."""
    from modeling_liqe.frozen_front import FRONT_LAYERS

    return FRONT_LAYERS + 1 if model_args.vision_init == "nss_spread" else FRONT_LAYERS


def freeze_parameters(model, patterns, front_layers=2):
    """Fix every parameter whose name matches one of `patterns` (re.search). 'nss_front' names the part of the
    NSS start (modeling_liqe/nss_init.py) that must stay as built: the filter bank, blocks 1-2, and the attention
    of later blocks (kept at zero, so their MLPs see each token alone)."""
    from modeling_liqe.frozen_front import front_freeze_patterns

    expanded = []
    for pattern in patterns or ():
        expanded.extend(front_freeze_patterns(front_layers) if pattern == "nss_front" else (pattern,))
    compiled = []
    for pattern in expanded:
        try:
            compiled.append(re.compile(pattern))
        except re.error as error:
            raise SystemExit(f"--freeze: {pattern!r} is not a regular expression: {error}")
    matched = {pattern.pattern: 0 for pattern in compiled}
    for name, parameter in model.named_parameters():
        for pattern in compiled:
            if pattern.search(name):
                parameter.requires_grad_(False)
                matched[pattern.pattern] += 1
    unused = [pattern for pattern, count in matched.items() if count == 0]
    if unused:
        raise SystemExit(f"--freeze: no parameter matches {unused} (names look like 'clip.vision_model.encoder.layers.0.mlp.fc1.weight')")


def text_parameters(model):
    return list(model.clip.text_model.parameters()) + list(model.clip.text_projection.parameters())


def parameter_groups(model, training_args):
    """AdamW groups: text tower, logit scale and the rest (vision tower, visual projection), each with its lr."""
    text_ids = {id(p) for p in text_parameters(model)}
    groups = {"vision": [], "text": [], "logit_scale": []}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        key = "text" if id(parameter) in text_ids else "logit_scale" if name.endswith("logit_scale") else "vision"
        groups[key].append(parameter)
    lrs = {
        "vision": training_args.learning_rate,
        "text": training_args.text_learning_rate or training_args.learning_rate,
        "logit_scale": training_args.logit_scale_learning_rate or training_args.learning_rate,
    }
    return [{"params": params, "lr": lrs[key], "name": key} for key, params in groups.items() if params]


def build_scheduler(optimizer, training_args, total_steps, num_processes):
    """The lr schedule in optimizer steps. A prepared scheduler steps once per process per optimizer step, so the
    schedule is written in scheduler steps = optimizer steps x num_processes (else it would run num_processes
    times too fast)."""
    warmup = training_args.num_warmup_steps
    if training_args.lr_scheduler_type == "cosine_epochs":
        steps_per_epoch, period = training_args.steps_per_epoch, training_args.lr_period_epochs

        def factor(scheduler_step):
            step = scheduler_step // num_processes
            if step < warmup:
                return (step + 1) / (warmup + 1)
            epoch = step // steps_per_epoch
            return 0.5 * (1.0 + math.cos(math.pi * epoch / period))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return transformers.get_scheduler(
        training_args.lr_scheduler_type, optimizer=optimizer, num_warmup_steps=warmup * num_processes,
        num_training_steps=total_steps * num_processes,
    )


# -- checkpoints ----------------------------------------------------------------------------------------------------
def list_checkpoints(output_dir):
    """Complete checkpoint folders, oldest first (a save killed midway stays a hidden temporary folder)."""
    found = []
    for path in Path(output_dir).glob(f"{CHECKPOINT_PREFIX}*"):
        match = re.fullmatch(rf"{CHECKPOINT_PREFIX}(\d+)", path.name)
        if match and path.is_dir():
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def save_checkpoint(accelerator, output_dir, step, total_limit=None):
    """save_state into a temporary folder, then rename: a checkpoint folder exists only once complete."""
    final = Path(output_dir) / f"{CHECKPOINT_PREFIX}{step}"
    staging = Path(output_dir) / f".tmp-{CHECKPOINT_PREFIX}{step}"
    if accelerator.is_main_process and staging.exists():
        shutil.rmtree(staging)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staging))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
        if total_limit:
            for old in list_checkpoints(output_dir)[:-total_limit]:
                shutil.rmtree(old)
    accelerator.wait_for_everyone()
    logger.info(f"saved {final}")
    return final


def resolve_checkpoint(resume_from_checkpoint, output_dir):
    if resume_from_checkpoint == "latest":
        checkpoints = list_checkpoints(output_dir)
        return checkpoints[-1] if checkpoints else None
    path = Path(resume_from_checkpoint)
    if not path.is_dir():
        raise SystemExit(f"{path}: no such checkpoint folder")
    return path


# -- the model folder -----------------------------------------------------------------------------------------------
def model_index_card(model, results, corpora, description, training_args, step):
    """The model card: the package's card plus a `model-index` block of the measured metrics."""
    import yaml

    from modeling_liqe.model_folder import render_model_card

    name = training_args.push_to_hub or Path(training_args.output_dir).name
    entries = []
    for corpus in corpora:
        for split, values in results.get(corpus.name, {}).items():
            metrics = [{"type": key, "name": key.upper() if key in ("srcc", "plcc", "krcc", "rmse") else key.replace("_", " "),
                        "value": round(float(values[key]), 6)}
                       for key in ("srcc", "plcc", "krcc", "rmse", "scene_accuracy", "distortion_accuracy")
                       if key in values and math.isfinite(values[key])]
            entries.append({
                "task": {"type": "image-quality-assessment", "name": "Blind image quality assessment"},
                "dataset": {"name": corpus.name, "type": corpus.source, "split": split},
                "metrics": metrics,
            })
    block = yaml.safe_dump({"model-index": [{"name": name, "results": entries}]}, sort_keys=False)
    intro = (f"LIQE {description}, with `accelerate launch train_accelerate.py` (step {step}, "
             + ("the last evaluation" if training_args.selection_metric == "last" else
                f"kept by mean validation {training_args.selection_metric} over {len(corpora)} corpora") + ")"
             + (f", the exponential moving average of the weights (decay {training_args.ema_decay})" if training_args.ema_decay else "")
             + ". SRCC and KRCC on the raw scores; PLCC and RMSE after the "
             "4-parameter logistic; scene accuracy counts an image right when its labels are its top scenes.")
    card = render_model_card(model.config, f"LIQE ({model.config.variant} variant), trained", intro, ("trained",))
    front_end = card.index("---\n", 4)
    rows = ["| corpus | split | " + " | ".join(k for k in ("SRCC", "PLCC", "KRCC", "RMSE")) + " |", "|---|---|---|---|---|---|"]
    for corpus in corpora:
        for split, values in results.get(corpus.name, {}).items():
            rows.append(f"| {corpus.name} | {split} | " + " | ".join(f"{values[k]:.4f}" for k in ("srcc", "plcc", "krcc", "rmse")) + " |")
    table = "\n## Measured\n\n" + "\n".join(rows) + "\n"
    return card[:front_end] + block + card[front_end:] + table


def save_model_folder(accelerator, model, processor, folder, card):
    """`save_pretrained` through Accelerate (main process writes), processor and card beside it."""
    accelerator.wait_for_everyone()
    unwrapped = accelerator.unwrap_model(model)
    was_training = unwrapped.training
    unwrapped.eval()
    unwrapped.save_pretrained(folder, is_main_process=accelerator.is_main_process, save_function=accelerator.save)
    unwrapped.train(was_training)
    if accelerator.is_main_process:
        processor.save_pretrained(folder)
        Path(folder, "README.md").write_text(card, encoding="utf-8")
    accelerator.wait_for_everyone()


def push_folder_to_hub(folder, repo_id, private=True, token=None):
    """Create the model repository (if needed) and upload the folder (huggingface_hub 2.x: HfApi)."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    return api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                             commit_message="Upload LIQE model trained with train_accelerate.py")


# -- steps ----------------------------------------------------------------------------------------------------------
def diagnose_non_finite(output, batch, corpus_names=None):
    """Which corpora of a step give a non-finite score or quality loss (all of them when none stands out).
    Without `corpus_names` the groups are the ladders of a ladder batch."""
    def name(group):
        return corpus_names[group] if corpus_names is not None else f"{LADDER_CORPUS} (ladder {group} of the step)"

    bad = []
    corpus_ids = batch["corpus_ids"]
    for corpus in corpus_ids.unique().tolist():
        rows = corpus_ids == corpus
        scores = output.score.detach()[rows]
        loss = quality_ranking_loss(scores, batch["mos"][rows].to(scores.device))
        if not (bool(torch.isfinite(scores).all()) and bool(torch.isfinite(loss))):
            bad.append(name(corpus))
    return bad or [name(c) for c in corpus_ids.unique().tolist()]


def clamp_logit_scale(model, maximum):
    """Keep a learnable logit scale in [0, ln maximum], as CLIP training clamps it at 100."""
    with torch.no_grad():
        model.clip.logit_scale.clamp_(0.0, math.log(maximum))


def check_epoch_pairs(state, epoch):
    missing = state.corpora_without_pairs()
    if missing:
        raise TrainingError(
            f"epoch {epoch} (ending at step {state.completed_steps}): corpus {', '.join(missing)} gave no image pair "
            "for the quality loss in the whole epoch (its batch size or its training split has fewer than 2 images)"
        )


VALIDATION_PHOTOS_CORPUS = "photos"


def validation_photos_corpus(data_args):
    """The corpus 'photos': one validation split of synthetic distortions of the named extra photos."""
    from datasets_scripts.ladders import EXTRA_TRAINING_PHOTOS, load_photos
    from datasets_scripts.synthetic import synthetic_split_from_photos
    from modeling_liqe.train_data import Corpus

    names = list(EXTRA_TRAINING_PHOTOS) if list(data_args.validation_photos) == ["extra"] else list(data_args.validation_photos)
    unknown = [name for name in names if name not in EXTRA_TRAINING_PHOTOS]
    if unknown:
        raise SystemExit(f"--validation_photos: {unknown} not among {sorted(EXTRA_TRAINING_PHOTOS)} (or 'extra' for all)")
    if data_args.train_source == "ladders" and data_args.ladder_photos == "bundled+":
        raise SystemExit("--validation_photos: --ladder_photos bundled+ trains on those photos; use --ladder_photos bundled")
    photos = load_photos({name: EXTRA_TRAINING_PHOTOS[name] for name in names})
    # The distortion types trained on (ladders) or the corpus's; all 25 when neither narrows them.
    types = (data_args.ladder_distortions if data_args.train_source == "ladders" else data_args.synthetic_distortions) or None
    split = synthetic_split_from_photos(photos, "validation", seed=data_args.synthetic_seed,
                                        image_size=data_args.synthetic_image_size, distortions=types)
    import datasets

    return Corpus(name=VALIDATION_PHOTOS_CORPUS, source=f"datasets_scripts.ladders EXTRA_TRAINING_PHOTOS {names}",
                  splits={"validation": split.cast_column("image", datasets.Image(decode=False))})  # as load_corpora


def ensure_synthetic_corpus(data_args, accelerator):
    """Build the embedded synthetic corpus at `synthetic_dir` when a corpus names it and it is absent."""
    if not data_args.synthetic_dir:
        return
    target = Path(data_args.synthetic_dir)
    named = any(Path(name).resolve() == target.resolve() for name in data_args.dataset_names)
    if not named or (target / "data").is_dir():
        return
    with accelerator.main_process_first():
        if accelerator.is_main_process:
            from datasets_scripts.synthetic import build_synthetic_corpus

            logger.info(f"building the embedded synthetic corpus in {target} (first use)")
            build_synthetic_corpus(
                out_dir=target, seed=data_args.synthetic_seed, image_size=data_args.synthetic_image_size,
                levels=data_args.synthetic_levels, distortions=data_args.synthetic_distortions or None,
            )


def check_ladder_augmentations(data_args):
    """Stop before any work, naming the flag, when a ladder augmentation is out of range."""
    from datasets_scripts.ladders import checked_exposure_jitter, checked_probability

    for flag, check in (("--ladder_exposure_jitter", lambda: checked_exposure_jitter(data_args.ladder_exposure_jitter)),
                        ("--ladder_tint_grey", lambda: checked_probability("tint_grey", data_args.ladder_tint_grey)),
                        ("--ladder_linear_darken", lambda: checked_probability("linear_darken", data_args.ladder_linear_darken)),
                        ("--ladder_sky_composite", lambda: checked_probability("sky_composite", data_args.ladder_sky_composite))):
        try:
            check()
        except ValueError as error:
            raise SystemExit(f"{flag}: {error}") from None
    for flag, count in (("--ladder_dead_leaves", data_args.ladder_dead_leaves), ("--ladder_sky_dead_leaves", data_args.ladder_sky_dead_leaves)):
        if count < 0:
            raise SystemExit(f"{flag} must be a count >= 0, got {count}")


def main(argv=None):
    model_args, data_args, training_args = parse_arguments(argv)
    if training_args.selection_metric not in SELECTION_METRICS:
        raise SystemExit(f"--selection_metric must be one of {SELECTION_METRICS}, got {training_args.selection_metric!r}")
    if training_args.ema_decay is not None and not 0.0 < training_args.ema_decay < 1.0:
        raise SystemExit(f"--ema_decay must be in (0, 1) (or unset: no average), got {training_args.ema_decay}")
    if training_args.task_weighting not in ("dwa", "fixed"):
        raise SystemExit(f"--task_weighting must be 'dwa' or 'fixed', got {training_args.task_weighting!r}")
    if training_args.distortion_loss_weight != 1.0 and training_args.task_weighting != "fixed":
        raise SystemExit(f"--distortion_loss_weight {training_args.distortion_loss_weight} needs --task_weighting fixed "
                         "(DWA sets every task's weight itself)")
    if not (math.isfinite(training_args.distortion_loss_weight) and training_args.distortion_loss_weight >= 0):
        raise SystemExit(f"--distortion_loss_weight must be a finite number >= 0, got {training_args.distortion_loss_weight}")
    check_ladder_augmentations(data_args)
    output_dir = Path(training_args.output_dir)
    log_with = None if training_args.report_to in ("none", "", None) else (
        "all" if training_args.report_to == "all" else [t.strip() for t in training_args.report_to.split(",")])
    accelerator = Accelerator(
        gradient_accumulation_steps=training_args.gradient_accumulation_steps,
        mixed_precision=training_args.mixed_precision,
        log_with=log_with,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
    )
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", datefmt="%H:%M:%S", level=logging.INFO)
    logger.info(accelerator.state, main_process_only=False)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
    set_seed(training_args.seed)
    if training_args.torch_threads:
        torch.set_num_threads(training_args.torch_threads)

    # Corpora: the main process builds the synthetic corpus first when needed; every process then reads them.
    ensure_synthetic_corpus(data_args, accelerator)
    with accelerator.main_process_first():
        corpora = load_corpora(
            data_args.dataset_names, data_args.sessions, data_args.train_batch_sizes, data_args.corpus_names or None,
            revision=data_args.dataset_revision,
        )
    corpus_names = [c.name for c in corpora]
    for corpus in corpora:
        sizes = ", ".join(f"{split} {len(ds)}" for split, ds in corpus.splits.items())
        logger.info(f"corpus {corpus.name} ({corpus.source}): {sizes}; {corpus.batch_size} images a step")

    model, processor, description = build_model(model_args, training_args.seed)
    image_processor = processor.image_processor
    tasks = [(task, key) for task, key in TASKS if task == "quality" or task in model.config.axis_names]

    steps_per_epoch = training_args.steps_per_epoch
    total_steps = training_args.num_train_epochs * steps_per_epoch
    if training_args.max_train_steps is not None:
        total_steps = min(total_steps, training_args.max_train_steps)
    num_epochs = math.ceil(total_steps / steps_per_epoch)
    accumulation = training_args.gradient_accumulation_steps

    trainable = model
    if data_args.cache_frozen_front:
        if data_args.train_source != "ladders":
            raise SystemExit("--cache_frozen_front needs --train_source ladders")
        from modeling_liqe.frozen_front import FrontCachedLIQE, FrozenFront, check_front_cache_exact
        from modeling_liqe.ladder_data import calibration_windows

        try:
            trainable = FrontCachedLIQE(model, front_layers(model_args))
        except ValueError as error:
            raise SystemExit(f"--cache_frozen_front: {error} (use --vision_init nss --freeze nss_front)")
        probe = calibration_windows(2, model.config.clip_config.vision_config.image_size, image_processor.image_mean,
                                    image_processor.image_std, seed=training_args.seed + 1)
        difference = check_front_cache_exact(model, probe, front_layers(model_args))
        logger.info(f"training from the cached frozen front (max |cosine difference| to LIQEModel.forward {difference:.2g})")
    optimizer = torch.optim.AdamW(
        parameter_groups(model, training_args), lr=training_args.learning_rate, weight_decay=training_args.weight_decay,
        betas=(training_args.adam_beta1, training_args.adam_beta2), eps=training_args.adam_epsilon,
    )
    scheduler = build_scheduler(optimizer, training_args, total_steps, accelerator.num_processes)
    eval_loaders = {
        corpus.name: {
            split: eval_dataloader(corpus, index, split, image_processor, data_args.eval_batch_size, data_args.dataloader_num_workers)
            for split in data_args.eval_splits if len(corpus.splits.get(split, ())) > 0
        }
        for index, corpus in enumerate(corpora)
    }
    ema = None
    if training_args.ema_decay is not None:
        from modeling_liqe.weight_average import ExponentialMovingAverage

        # Copied before `prepare`, from the bare LIQEModel: no DDP or mixed-precision wrapper comes with the copy.
        ema = ExponentialMovingAverage(model, training_args.ema_decay, device=accelerator.device)
    # The training DataLoader is not prepared: its sampler already gives each process its own batches.
    model, optimizer, scheduler = accelerator.prepare(trainable, optimizer, scheduler)

    def liqe_model():
        """The LIQEModel being trained (unwrapped from DDP and from the cached-front wrapper)."""
        unwrapped = accelerator.unwrap_model(model)
        return unwrapped.model if data_args.cache_frozen_front else unwrapped
    if data_args.validation_photos:
        photos_corpus = validation_photos_corpus(data_args)
        if photos_corpus.name in eval_loaders:
            raise SystemExit(f"--validation_photos: a corpus is already named {photos_corpus.name!r}; rename it (--corpus_names)")
        eval_loaders[photos_corpus.name] = {"validation": eval_dataloader(
            photos_corpus, len(corpora), "validation", image_processor, data_args.eval_batch_size, data_args.dataloader_num_workers)}
        logger.info(f"validation photos {data_args.validation_photos}: {len(photos_corpus.splits['validation'])} images")
    eval_loaders = {name: {split: accelerator.prepare(loader) for split, loader in splits.items()}
                    for name, splits in eval_loaders.items()}

    data_plan = {
        "corpora": [[c.name, len(c), c.batch_size] for c in corpora], "seed": training_args.seed,
        "num_processes": accelerator.num_processes, "gradient_accumulation_steps": accumulation,
        "steps_per_epoch": steps_per_epoch,
    }
    ladders = None
    if data_args.train_source == "ladders":
        from modeling_liqe.ladder_data import LadderBatches

        ladders = LadderBatches(
            data_args.ladders_per_step, data_args.new_ladders_per_step, data_args.ladder_pool, seed=training_args.seed,
            rank=accelerator.process_index, crop_size=liqe_model().config.clip_config.vision_config.image_size,
            image_mean=image_processor.image_mean, image_std=image_processor.image_std,
            type_ids=data_args.ladder_distortions or None,
            front=FrozenFront(liqe_model(), front_layers(model_args)) if data_args.cache_frozen_front else None, photo_set=data_args.ladder_photos,
            dead_leaves=data_args.ladder_dead_leaves, exposure_jitter=data_args.ladder_exposure_jitter,
            dead_leaves_texture=data_args.ladder_dead_leaves_texture, tint_grey=data_args.ladder_tint_grey,
            linear_darken=data_args.ladder_linear_darken, sky_dead_leaves=data_args.ladder_sky_dead_leaves,
            sky_composite=data_args.ladder_sky_composite,
        )
        data_plan["ladders"] = [data_args.ladders_per_step, data_args.new_ladders_per_step, data_args.ladder_pool,
                                list(data_args.ladder_distortions), data_args.cache_frozen_front, data_args.ladder_photos]
        if data_args.ladder_dead_leaves:  # appended only when used: older checkpoints' data plans still match
            data_plan["ladders"].append(["dead_leaves", data_args.ladder_dead_leaves])
        if data_args.ladder_dead_leaves_texture:
            data_plan["ladders"].append(["dead_leaves_texture", data_args.ladder_dead_leaves_texture])
        if data_args.ladder_exposure_jitter:
            data_plan["ladders"].append(["exposure_jitter", data_args.ladder_exposure_jitter])
        if data_args.ladder_tint_grey:
            data_plan["ladders"].append(["tint_grey", data_args.ladder_tint_grey])
        if data_args.ladder_sky_dead_leaves:
            data_plan["ladders"].append(["sky_dead_leaves", data_args.ladder_sky_dead_leaves])
        if data_args.ladder_linear_darken:
            data_plan["ladders"].append(["linear_darken", data_args.ladder_linear_darken])
        if data_args.ladder_sky_composite:
            data_plan["ladders"].append(["sky_composite", data_args.ladder_sky_composite])
    elif data_args.train_source != "corpora":
        raise SystemExit(f"--train_source must be 'corpora' or 'ladders', got {data_args.train_source!r}")
    if ema is not None:
        # Beside accelerate's state in every checkpoint, as safetensors (main process writes, every process reads).
        accelerator.register_save_state_pre_hook(
            lambda models, weights, folder: ema.save(folder) if accelerator.is_main_process else None)
        accelerator.register_load_state_pre_hook(lambda models, folder: ema.load(folder))
        data_plan["ema_decay"] = training_args.ema_decay  # only when used: older checkpoints' data plans still match
    # The ranking loss's groups: the corpora, or (ladders) one group per ladder, all counted as one "corpus".
    pair_names = corpus_names if ladders is None else [LADDER_CORPUS]
    state = TrainingState(pair_names, data_plan, num_tasks=len(tasks), temperature=training_args.dwa_temperature)
    fixed_weights = [training_args.distortion_loss_weight if task == "distortion" else 1.0 for task, _ in tasks]
    accelerator.register_for_checkpointing(state)

    if training_args.resume_from_checkpoint:
        checkpoint = resolve_checkpoint(training_args.resume_from_checkpoint, output_dir)
        if checkpoint is None:
            logger.info(f"no checkpoint in {output_dir} yet: starting from step 0")
        else:
            try:
                accelerator.load_state(str(checkpoint))
            except (FileNotFoundError, ValueError) as error:  # the EMA weights missing or of another decay
                raise SystemExit(f"--resume_from_checkpoint {checkpoint}: {error}")
            logger.info(f"resumed from {checkpoint} at step {state.completed_steps}")

    if log_with is not None:
        tracker_config = {k: (v if isinstance(v, (int, float, str, bool)) else str(v))
                          for args in (model_args, data_args, training_args) for k, v in asdict(args).items()}
        accelerator.init_trackers(training_args.project_name, config=tracker_config)

    logger.info(f"{total_steps} optimizer steps ({num_epochs} epochs of {steps_per_epoch}), "
                f"{accelerator.num_processes} processes, {sum(c.batch_size for c in corpora)} images a step and process")
    train_log = output_dir / "train_log.jsonl"
    eval_log = output_dir / "eval_results.jsonl"
    run_started = time.time()  # wall seconds of this launch, in the logs (learning curves against time)
    progress = tqdm(total=total_steps, initial=state.completed_steps, disable=not accelerator.is_local_main_process, desc="steps")
    last_results = None

    for epoch in range(len(state.dwa.epoch_means), num_epochs):
        epoch_end = min((epoch + 1) * steps_per_epoch, total_steps)
        model.train()
        if ladders is None:
            loader = train_dataloader(
                corpora, image_processor, training_args.seed, start_step=state.completed_steps * accumulation,
                end_step=epoch_end * accumulation, rank=accelerator.process_index, num_replicas=accelerator.num_processes,
                num_workers=data_args.dataloader_num_workers,
            )
        else:
            from modeling_liqe.ladder_data import ladder_dataloader

            loader = ladder_dataloader(ladders, state.completed_steps * accumulation, epoch_end * accumulation,
                                       num_workers=data_args.dataloader_num_workers)
        started = time.perf_counter()
        for batch in loader:
            batch = {key: value.to(accelerator.device) for key, value in batch.items()}
            step = state.completed_steps + 1  # the optimizer step this micro-batch belongs to
            with accelerator.accumulate(model):
                output = model(**batch)
                losses = [getattr(output, key) for _, key in tasks]
                if training_args.quality_ce_weight:
                    # Not in the paper (research/LOG.md): anchors the quality marginal to the level, which the
                    # order-only ranking loss leaves free; folded into the quality task.
                    ce = quality_level_cross_entropy(output.quality_probs, batch["mos"])
                    losses[0] = losses[0] + training_args.quality_ce_weight * ce if losses[0] is not None else ce
                present = [loss is not None for loss in losses]
                values = torch.stack([loss.detach().float() if loss is not None else torch.zeros((), device=accelerator.device)
                                      for loss in losses])
                # One gather a step: every process learns whether any loss anywhere is non-finite, and DWA
                # records the same process-averaged losses everywhere.
                local = torch.cat([values, torch.tensor(present, dtype=torch.float32, device=values.device)])
                gathered = accelerator.gather(local.reshape(1, -1))
                all_values, all_present = gathered[:, : len(tasks)], gathered[:, len(tasks):] > 0
                finite = bool(torch.isfinite(torch.where(all_present, all_values, torch.zeros_like(all_values))).all())
                if not finite:
                    names = [task for (task, _), p, v in zip(tasks, present, values.tolist()) if p and not math.isfinite(v)]
                    where = diagnose_non_finite(output, batch, pair_names if ladders is None else None) if names else []
                    raise TrainingError(
                        f"step {step}: non-finite loss ({', '.join(f'{t}={v}' for (t, _), v in zip(tasks, values.tolist()))}) "
                        + (f"from corpus {', '.join(where)}" if where else "on another process")
                        + "; stopping before the optimizer step, no weights saved from it"
                    )
                weights = state.dwa.weights() if training_args.task_weighting == "dwa" else fixed_weights
                total = sum(w * loss for w, loss, p in zip(weights, losses, present) if p)
                accelerator.backward(total)
                if accelerator.sync_gradients and training_args.max_grad_norm:
                    accelerator.clip_grad_norm_(model.parameters(), training_args.max_grad_norm)
                used_lrs = [group["lr"] for group in optimizer.param_groups]
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                if accelerator.sync_gradients and model_args.learnable_logit_scale:
                    clamp_logit_scale(liqe_model(), model_args.max_logit_scale)

            means = []
            for k in range(len(tasks)):
                column = all_values[:, k][all_present[:, k]]
                means.append(float(column.mean()) if column.numel() else float("nan"))
            state.dwa.record(means)
            counts = torch.bincount(batch["corpus_ids"].cpu()).tolist()
            if ladders is None:
                state.record_pairs(list(zip(corpus_names, counts)))
            else:
                state.record_pairs([(LADDER_CORPUS, count) for count in counts])

            if not accelerator.sync_gradients:
                continue
            state.completed_steps += 1
            if ema is not None:
                ema.update_parameters(liqe_model())
            progress.update(1)
            lr = used_lrs
            record = {"step": state.completed_steps, "epoch": epoch, "elapsed_s": round(time.time() - run_started, 3),
                      "lr": lr[0], "lrs": lr,
                      "loss": float(sum(w * m for w, m in zip(weights, means) if math.isfinite(m))),
                      **{f"loss_{task}": m for (task, _), m in zip(tasks, means)},
                      "dwa_weights": weights}
            if accelerator.is_main_process:
                with open(train_log, "a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")
            if log_with is not None:
                accelerator.log({f"train/{k}": v for k, v in record.items() if isinstance(v, float)}, step=state.completed_steps)
            if state.completed_steps % training_args.logging_steps == 0:
                rate = (state.completed_steps - (epoch * steps_per_epoch)) / max(time.perf_counter() - started, 1e-9)
                logger.info(f"step {state.completed_steps}: loss {record['loss']:.4f} "
                            + " ".join(f"{t} {m:.4f}" for (t, _), m in zip(tasks, means)) + f" lr {lr[0]:.3g} ({rate:.2f} steps/s)")
            at_epoch_end = state.completed_steps == (epoch + 1) * steps_per_epoch
            if (training_args.checkpointing_steps and state.completed_steps % training_args.checkpointing_steps == 0
                    and not (at_epoch_end and training_args.checkpoint_every_epoch)):
                save_checkpoint(accelerator, output_dir, state.completed_steps, training_args.checkpoints_total_limit)

        full_epoch = state.completed_steps == (epoch + 1) * steps_per_epoch
        if full_epoch:
            check_epoch_pairs(state, epoch)
            means = state.end_epoch()
            logger.info(f"epoch {epoch}: mean task losses " + " ".join(f"{t} {m:.4f}" for (t, _), m in zip(tasks, means)))
        last = state.completed_steps >= total_steps
        if (full_epoch and (epoch + 1) % training_args.eval_every_epochs == 0) or last:
            evaluated = ema.module if ema is not None else liqe_model() if data_args.cache_frozen_front else model
            results, predictions = evaluate_corpora(evaluated, eval_loaders, accelerator, return_predictions=True)
            model.train()
            last_results = results
            mean_srcc = mean_over_corpora(results, "validation", "srcc")
            selected = (float(state.completed_steps) if training_args.selection_metric == "last"
                        else sum(mean_over_corpora(results, "validation", key)
                                 for key in training_args.selection_metric.split("+")))
            if accelerator.is_main_process:
                with open(eval_log, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"step": state.completed_steps, "epoch": epoch,
                                        "elapsed_s": round(time.time() - run_started, 3), "mean_validation_srcc": mean_srcc,
                                        "weights": "raw" if ema is None else f"ema {training_args.ema_decay}",
                                        "results": results}) + "\n")
                # The per-image scores of the latest evaluation (gathered in dataset order), for checks and plots.
                (output_dir / "eval_predictions.json").write_text(json.dumps({"step": state.completed_steps, **predictions}))
            summary = " ".join(f"{name} {splits.get('validation', splits.get('test', {})).get('srcc', float('nan')):.4f}"
                               for name, splits in results.items())
            logger.info(f"step {state.completed_steps}: mean validation SRCC {mean_srcc:.4f} (SRCC {summary})")
            if log_with is not None:
                accelerator.log({**flatten(results), "eval/mean_validation_srcc": mean_srcc}, step=state.completed_steps)
            better = math.isfinite(selected) and selected > state.best_metric
            if better or (state.best_step is None and not math.isfinite(state.best_metric) and last):
                state.best_metric = selected if math.isfinite(selected) else state.best_metric
                state.best_step = state.completed_steps
                kept_model = ema.module if ema is not None else liqe_model()
                card = model_index_card(kept_model, results, corpora, description, training_args, state.completed_steps)
                save_model_folder(accelerator, kept_model, processor, output_dir / "best_model", card)
                kept = ("the latest evaluation" if training_args.selection_metric == "last"
                        else f"mean validation {training_args.selection_metric} {selected:.4f}")
                logger.info(f"new best model ({kept}) in {output_dir / 'best_model'}")
        if full_epoch and training_args.checkpoint_every_epoch:
            save_checkpoint(accelerator, output_dir, state.completed_steps, training_args.checkpoints_total_limit)
        if last:
            break
    progress.close()

    final_model = ema.module if ema is not None else liqe_model()
    card = model_index_card(final_model, last_results or {}, corpora, description, training_args, state.completed_steps)
    save_model_folder(accelerator, final_model, processor, output_dir / "final_model", card)
    if training_args.push_to_hub and accelerator.is_main_process:
        if not (output_dir / "best_model").is_dir():
            raise TrainingError("--push_to_hub: no best_model folder was written (no evaluation ran)")
        push_folder_to_hub(output_dir / "best_model", training_args.push_to_hub, training_args.hub_private, training_args.hub_token)
        logger.info(f"pushed {output_dir / 'best_model'} to https://huggingface.co/{training_args.push_to_hub}")
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return {"completed_steps": state.completed_steps, "best_metric": state.best_metric, "best_step": state.best_step,
            "results": last_results}


if __name__ == "__main__":
    main()
