"""train_accelerate.py: arguments, lr schedule, a short real run (in-process), the Hub folder, error stops."""

import json
import math

import pytest
import torch
import yaml

import train_accelerate
from train_accelerate import TrainingError, build_scheduler, main, parse_arguments
from tests.conftest import REPO_ROOT
from tests.training_helpers import build_tiny_corpus, tiny_args


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_tiny_corpus(tmp_path_factory.mktemp("corpus") / "tiny")


# An uninterrupted float32 run: the reference of the SIGKILL-and-resume test, and the float32 first step the bf16
# test compares with (the training sampler and crops are indexed by step, the weights start from the seed: step 1
# is the same step in a run of any length, so a separate 1-step launch only repeated it). It runs in this process
# (a launch costs ~15 s of interpreter start-up and imports): the launched, killed and resumed run must still end
# on its weights, so a launched run is checked against an in-process one. One torch thread, as in a launched run
# (OMP_NUM_THREADS=1), so both sum in the same order.
STRAIGHT = dict(num_train_epochs=2, steps_per_epoch=4, checkpointing_steps=3, eval_splits="validation", torch_threads=1)


@pytest.fixture(scope="module")
def straight_run(corpus, tmp_path_factory):
    """(output folder, console) of the run: its log records of train_accelerate's logger, as a launch prints them."""
    import logging

    out = tmp_path_factory.mktemp("straight") / "run"
    records = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: records.append(record.getMessage())
    train_logger = logging.getLogger(train_accelerate.__name__)
    level, threads = train_logger.level, torch.get_num_threads()
    train_logger.addHandler(handler)
    train_logger.setLevel(logging.INFO)
    try:
        main(tiny_args(corpus, out, **STRAIGHT))
    finally:
        train_logger.removeHandler(handler)
        train_logger.setLevel(level)
        torch.set_num_threads(threads)
    return out, "\n".join(records)


# -- arguments --------------------------------------------------------------------------------------------------------
def test_default_config_is_the_synthetic_demo_and_the_cli_overrides_it():
    model_args, data_args, training_args = parse_arguments([])
    demo = yaml.safe_load((REPO_ROOT / "configs" / "synthetic_demo.yaml").read_text())
    assert model_args.geometry == demo["geometry"] and model_args.model_name_or_path is None
    assert data_args.dataset_names == demo["dataset_names"] and data_args.train_source == demo["train_source"]
    assert training_args.learning_rate == demo["learning_rate"] and training_args.num_train_epochs == demo["num_train_epochs"]
    # the demo recipe (issue 11): NSS start pooling across the window, its front fixed, ladders on the fly, trained
    # from the cached front
    assert (model_args.geometry, model_args.vision_init, model_args.freeze, data_args.train_source, data_args.cache_frozen_front) == (
        "demo-spread", "nss_spread", ["nss_front"], "ladders", True)

    model_args, data_args, training_args = parse_arguments(
        ["--learning_rate", "0.01", "--train_batch_sizes", "4", "16", "--dataset_names", "a", "b", "--learnable_logit_scale"])
    assert training_args.learning_rate == 0.01 and data_args.train_batch_sizes == [4, 16]
    assert data_args.dataset_names == ["a", "b"] and model_args.learnable_logit_scale is True
    assert training_args.num_train_epochs == demo["num_train_epochs"]  # the rest still comes from the file


def test_a_yaml_file_then_command_line_overrides(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("geometry: tiny\ntrain_batch_sizes: [4, 4, 16]\nsessions: ['1', seeded]\nseed: 3\nfreeze_text_tower: true\n")
    model_args, data_args, training_args = parse_arguments(["--config", str(config), "--seed", "5"])
    assert model_args.geometry == "tiny" and model_args.freeze_text_tower is True
    assert data_args.train_batch_sizes == [4, 4, 16] and data_args.sessions == ["1", "seeded"]
    assert training_args.seed == 5
    # without a file, the dataclass defaults (the paper's numbers)
    _, _, plain = parse_arguments(["--config", "none"])
    assert (plain.learning_rate, plain.weight_decay, plain.steps_per_epoch, plain.num_train_epochs) == (5e-6, 1e-3, 200, 80)


def test_config_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rat: 0.1\n")
    with pytest.raises(SystemExit, match=r"bad.yaml: unknown arguments \['learning_rat'\]"):
        parse_arguments(["--config", str(bad)])
    bad.write_text("- a\n- b\n")
    with pytest.raises(SystemExit, match="expected a mapping"):
        parse_arguments(["--config", str(bad)])
    with pytest.raises(SystemExit, match="cannot read the config file"):
        parse_arguments(["--config", str(tmp_path / "absent.yaml")])


def test_shipped_configs_parse_and_the_paper_recipe_is_exact():
    for path in sorted((REPO_ROOT / "configs").glob("*.yaml")):
        parse_arguments(["--config", str(path)])
    model_args, data_args, training_args = parse_arguments(["--config", str(REPO_ROOT / "configs" / "liqe_six_corpora.yaml")])
    assert model_args.model_name_or_path == "openai/clip-vit-base-patch32"
    assert [p.split("/")[-1] for p in data_args.dataset_names] == ["live", "csiq", "kadid10k", "bid", "clive", "koniq10k"]
    assert data_args.train_batch_sizes == [4, 4, 16, 4, 4, 16]  # LIVE, CSIQ, KADID, BID, CLIVE, KonIQ (spec section 5)
    assert (training_args.steps_per_epoch, training_args.num_train_epochs, training_args.learning_rate,
            training_args.weight_decay, training_args.lr_scheduler_type, training_args.lr_period_epochs,
            training_args.dwa_temperature, training_args.seed) == (200, 80, 5e-6, 1e-3, "cosine_epochs", 5, 2.0, 20200626)


# -- lr schedule ------------------------------------------------------------------------------------------------------
def _lrs(num_processes, steps, **overrides):
    args = parse_arguments(["--config", "none", "--steps_per_epoch", "4", "--learning_rate", "1.0",
                            *[x for k, v in overrides.items() for x in (f"--{k}", str(v))]])[2]
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = build_scheduler(optimizer, args, steps, num_processes)
    lrs = []
    for _ in range(steps):
        lrs.append(scheduler.get_last_lr()[0])
        for _ in range(num_processes):  # what a prepared scheduler does per optimizer step
            scheduler.step()
    return lrs


def test_the_paper_schedule_is_per_epoch_and_the_same_for_any_number_of_processes():
    lrs = _lrs(1, 48)
    per_epoch = [lrs[4 * e] for e in range(12)]
    assert all(lrs[4 * e: 4 * e + 4] == [per_epoch[e]] * 4 for e in range(12))  # stepped once an epoch
    expected = [0.5 * (1 + math.cos(math.pi * e / 5)) for e in range(12)]
    assert per_epoch == pytest.approx(expected)
    assert per_epoch[5] == pytest.approx(0) and per_epoch[10] == pytest.approx(1) and per_epoch[0] == 1
    assert _lrs(2, 48) == lrs and _lrs(4, 48) == lrs
    for name in ("cosine", "linear"):
        one = _lrs(1, 20, lr_scheduler_type=name, num_warmup_steps=3)
        assert _lrs(2, 20, lr_scheduler_type=name, num_warmup_steps=3) == pytest.approx(one)
        assert one[1] < one[3] and one[-1] < one[3]


# -- a real run -------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_short_run_writes_checkpoints_logs_and_a_hub_ready_folder(corpus, tmp_path, monkeypatch):
    calls = []

    class FakeHfApi:
        def __init__(self, token=None):
            calls.append(("init", token))

        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", repo_id, kwargs))

        def upload_folder(self, folder_path, repo_id, **kwargs):
            from pathlib import Path

            calls.append(("upload_folder", repo_id, sorted(p.name for p in Path(folder_path).iterdir())))

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHfApi)
    out = tmp_path / "run"
    result = main(tiny_args(corpus, out, checkpointing_steps=2, push_to_hub="org/liqe-tiny", hub_token="tok"))
    assert result["completed_steps"] == 6
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    assert all(math.isfinite(r["loss"]) and r["dwa_weights"] == [1.0, 1.0, 1.0] for r in log)
    assert [r["lr"] for r in log] == pytest.approx([1e-3] * 3 + [0.0] * 3)  # cosine_epochs with a 1-epoch period
    # step checkpoints (2, 4) and epoch checkpoints (3, 6); no half-written folder left behind
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(("checkpoint-", ".tmp"))) == [
        "checkpoint-2", "checkpoint-3", "checkpoint-4", "checkpoint-6"]
    assert (out / "checkpoint-4" / "custom_checkpoint_0.pkl").is_file()
    evals = [json.loads(line) for line in (out / "eval_results.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals] == [3, 6]
    for e in evals:
        metrics = e["results"]["synthetic"]
        assert set(metrics) == {"validation", "test"}
        assert metrics["test"]["num_images"] == 12 and metrics["validation"]["num_images"] == 6
        assert {"srcc", "plcc", "krcc", "rmse", "scene_accuracy", "distortion_accuracy"} <= set(metrics["test"])

    best = out / "best_model"
    files = {p.name for p in best.iterdir()}
    assert {"config.json", "model.safetensors", "modeling_liqe.py", "configuration_liqe.py", "processor_config.json",
            "README.md"} <= files and not any(name.endswith((".bin", ".pt", ".pkl")) for name in files)
    config = json.loads((best / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_liqe.LIQEModel"
    card = (best / "README.md").read_text()
    front = yaml.safe_load(card.split("---\n")[1])
    results = front["model-index"][0]["results"]
    assert front["model-index"][0]["name"] == "org/liqe-tiny"
    assert {(r["dataset"]["name"], r["dataset"]["split"]) for r in results} == {("synthetic", "validation"), ("synthetic", "test")}
    best_eval = max(evals, key=lambda e: e["mean_validation_srcc"])
    srcc = {m["type"]: m["value"] for r in results if r["dataset"]["split"] == "validation" for m in r["metrics"]}["srcc"]
    assert srcc == pytest.approx(best_eval["results"]["synthetic"]["validation"]["srcc"], abs=1e-6)

    from safetensors.torch import load_file

    weights = load_file(str(best / "model.safetensors"))
    assert bool(weights["prompt_text_fingerprint"].any())  # prompt features shipped
    assert calls == [("init", "tok"), ("create_repo", "org/liqe-tiny", {"repo_type": "model", "private": True, "exist_ok": True}),
                     ("upload_folder", "org/liqe-tiny", sorted(files))]


@pytest.mark.slow
@pytest.mark.parametrize("selection", ["level_rank_srcc", "last"])
def test_best_model_is_kept_by_the_selection_metric(corpus, tmp_path, selection):
    import re

    import numpy as np

    from modeling_liqe.eval_table import level_rank_srcc
    from modeling_liqe.train_data import load_corpora

    out = tmp_path / "run"
    main(tiny_args(corpus, out, num_train_epochs=3, steps_per_epoch=1, selection_metric=selection, learning_rate=0.05,
                   eval_splits="validation"))
    evals = _log(out / "eval_results.jsonl")
    assert [e["step"] for e in evals] == [1, 2, 3]
    # level_rank_srcc of the last evaluation, recomputed from its per-image scores and the split's own columns
    table = load_corpora([str(corpus)], sessions=["seeded"])[0].splits["validation"]  # the order the run scored
    scores = np.asarray(json.loads((out / "eval_predictions.json").read_text())["synthetic"]["validation"]["score"])
    groups = list(zip(table["reference_id"], table["distortion_fine"]))
    expected = level_rank_srcc(scores, np.asarray(table["distortion_level"], dtype=float), groups)
    assert evals[-1]["results"]["synthetic"]["validation"]["level_rank_srcc"] == pytest.approx(expected, abs=1e-9)
    values = [e["results"]["synthetic"]["validation"]["level_rank_srcc"] for e in evals]
    kept = evals[int(np.argmax(values))]["step"] if selection == "level_rank_srcc" else 3
    card = (out / "best_model" / "README.md").read_text()
    assert re.search(rf"\(step {kept}, ", card), (values, card[:600])


@pytest.mark.slow
def test_tensorboard_tracking_and_bf16_mixed_precision(corpus, straight_run, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    # Fresh processes: Accelerate's state (mixed precision included) is a per-process singleton.
    out = tmp_path / "run"
    # 2 epochs of 2 steps: a bf16 step costs ~2.7 s on this CPU (a float32 one ~0.3 s); two evaluations, two steps
    # an epoch are what the tensorboard checks below need
    output = _finish(_launch(tiny_args(corpus, out, report_to="tensorboard", project_name="liqe-test",
                                       mixed_precision="bf16", eval_splits="validation", steps_per_epoch=2)))
    assert "Mixed precision type: bf16" in output
    log = _log(out / "train_log.jsonl")
    assert [r["step"] for r in log] == [1, 2, 3, 4] and all(math.isfinite(r["loss"]) for r in log)
    events = list((out / "logs").rglob("events.out.tfevents.*"))
    assert events, "no tensorboard event file"
    scalars = {}
    for path in events:
        accumulator = EventAccumulator(str(path.parent))
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            scalars[tag] = [(e.step, e.value) for e in accumulator.Scalars(tag)]
    assert [step for step, _ in scalars["train/loss"]] == [1, 2, 3, 4]
    assert [value for _, value in scalars["train/loss"]] == pytest.approx([r["loss"] for r in log], rel=1e-5)
    evals = _log(out / "eval_results.jsonl")
    assert [e["step"] for e in evals] == [2, 4]
    assert scalars["eval/mean_validation_srcc"] == [(e["step"], pytest.approx(e["mean_validation_srcc"], abs=1e-6))
                                                     for e in evals]
    # bf16 autocast really ran: the same first step in float32 (the float32 run) gives a close but different loss
    fp32, fp32_console = straight_run
    assert "Mixed precision type: no" in fp32_console
    first = _log(fp32 / "train_log.jsonl")[0]["loss"]
    assert log[0]["loss"] != first and log[0]["loss"] == pytest.approx(first, rel=5e-2)
    # bf16 autocast for the compute, float32 weights saved
    assert all(w.dtype == torch.float32 for k, w in _weights(out / "final_model").items() if w.is_floating_point())


# -- error stops ------------------------------------------------------------------------------------------------------
def test_a_non_finite_loss_stops_the_run_naming_step_and_corpus_before_any_save(corpus, tmp_path, monkeypatch):
    from modeling_liqe import LIQEModel

    forward = LIQEModel.forward
    calls = {"n": 0}

    def poisoned(self, *args, **kwargs):
        output = forward(self, *args, **kwargs)
        if self.training:
            calls["n"] += 1
            if calls["n"] == 3:  # the third training step: corpus "b"'s scores become NaN
                score = output.score.clone()
                score[kwargs["corpus_ids"] == 1] = float("nan")
                output.score = score
                output.loss_quality = output.loss_quality * float("nan")
        return output

    monkeypatch.setattr(LIQEModel, "forward", poisoned)
    out = tmp_path / "run"
    args = tiny_args(corpus, out, checkpointing_steps=2, dataset_names=f"{corpus} {corpus}", corpus_names="a b",
                     train_batch_sizes="3 2")
    with pytest.raises(TrainingError, match=r"step 3: non-finite loss \(quality=nan.*from corpus b;"):
        main(args)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("checkpoint-")) == ["checkpoint-2"]
    assert not (out / "best_model").exists() and not (out / "final_model").exists()
    assert [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()] == [1, 2]


def test_a_corpus_without_pairs_for_an_epoch_stops_the_run(corpus, tmp_path):
    args = tiny_args(corpus, tmp_path / "run", dataset_names=f"{corpus} {corpus}", corpus_names="a lonely",
                     train_batch_sizes="3 1")
    with pytest.raises(TrainingError, match=r"epoch 0 \(ending at step 3\): corpus lonely gave no image pair"):
        main(args)
    assert not (tmp_path / "run" / "best_model").exists()


def test_an_empty_corpus_stops_the_run_naming_it(corpus, tmp_path):
    from modeling_liqe.train_data import CorpusError

    with pytest.raises(CorpusError, match=f"corpus {tmp_path / 'missing'}"):
        main(tiny_args(corpus, tmp_path / "run", dataset_names=f"{corpus} {tmp_path / 'missing'}", corpus_names="a b"))


# -- the demo recipe: ladders on the fly, NSS start, cached frozen front ------------------------------------------------
def ladder_args(corpus, output_dir, **overrides):
    values = dict(geometry="demo", variant="quality_distortion", vision_init="nss", nss_calibration_ladders=2,
                  freeze="nss_front", train_source="ladders", ladders_per_step=2, new_ladders_per_step=1, ladder_pool=3,
                  ladder_distortions="1", cache_frozen_front="true", quality_ce_weight=1.0, task_weighting="fixed",
                  learnable_logit_scale="true", logit_scale_init=math.log(10), max_logit_scale=9.0,
                  learning_rate=0.05, lr_scheduler_type="cosine", torch_threads=1, eval_splits="validation")
    values.update(overrides)
    listed = ("freeze", "ladder_distortions", "validation_photos")  # list arguments: one word each
    argv = tiny_args(corpus, output_dir, **{k: v for k, v in values.items() if k not in listed})
    for key in listed:
        if values.get(key):
            argv += [f"--{key}", *str(values[key]).split(" ")]
    return argv


def _front(weights):
    import re

    from modeling_liqe.frozen_front import front_freeze_patterns

    patterns = [re.compile(p) for p in front_freeze_patterns()]
    return {k: v for k, v in weights.items() if any(p.search(k) for p in patterns)}


@pytest.mark.slow
def test_the_ladder_recipe_trains_only_the_readout_and_resumes_exactly(corpus, tmp_path):
    import shutil

    straight = tmp_path / "straight"
    result = main(ladder_args(corpus, straight, checkpointing_steps=2))
    assert result["completed_steps"] == 6
    log = _log(straight / "train_log.jsonl")
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    assert all(math.isfinite(r["loss"]) and r["dwa_weights"] == [1.0, 1.0] for r in log)  # task_weighting fixed
    final, best = _weights(straight / "final_model"), _weights(straight / "best_model")
    # the fixed front is the NSS start, untouched; what trains moved; the learnable scale stayed under its clamp
    start = _weights(_fresh_start(corpus, tmp_path / "start"))
    front = _front(final)
    assert front and all(torch.equal(front[k], start[k]) for k in front)
    moved = [k for k in final if k not in front and not torch.equal(final[k], start[k])]
    assert any(k.startswith("clip.vision_model.encoder.layers.2.mlp") for k in moved)
    assert any(k.startswith("clip.text_model") for k in moved) and "clip.visual_projection.weight" in moved
    # the learnable scale starts at ln 10 above its clamp (ln 9): clamped after every step
    assert float(start["clip.logit_scale"]) == pytest.approx(math.log(10))
    assert float(final["clip.logit_scale"]) <= math.log(9.0) + 1e-6
    assert set(best) == set(final)

    # resume from the step-2 checkpoint in a fresh folder: the same weights as the run that never stopped
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copytree(straight / "checkpoint-2", resumed / "checkpoint-2")
    main(ladder_args(corpus, resumed, checkpointing_steps=2, resume_from_checkpoint="latest"))
    assert [r["step"] for r in _log(resumed / "train_log.jsonl")] == [3, 4, 5, 6]
    again = _weights(resumed / "final_model")
    for key in final:
        assert torch.allclose(again[key].double(), final[key].double(), atol=1e-6, rtol=0), key
    for ours, theirs in zip(_log(resumed / "train_log.jsonl"), log[2:]):
        assert ours["loss"] == pytest.approx(theirs["loss"], abs=1e-6)


def test_the_spread_start_trains_from_its_three_block_cached_front(corpus, tmp_path):
    """--vision_init nss_spread --geometry demo-spread: the fixed front is three blocks (the third pools across the
    window); they stay as built, the fourth block's MLP, the projection and the text tower train."""
    import re

    from modeling_liqe.frozen_front import front_freeze_patterns

    run = tmp_path / "run"
    overrides = dict(geometry="demo-spread", vision_init="nss_spread", num_train_epochs=1, steps_per_epoch=3)
    assert main(ladder_args(corpus, run, **overrides))["completed_steps"] == 3
    final, start = _weights(run / "final_model"), _weights(_fresh_start(corpus, tmp_path / "start", **overrides))
    patterns = [re.compile(p) for p in front_freeze_patterns(3)]
    front = {k for k in final if any(p.search(k) for p in patterns)}
    assert any(k.startswith("clip.vision_model.encoder.layers.2.self_attn") for k in front)
    assert all(torch.equal(final[k], start[k]) for k in front)
    moved = {k for k in final if not torch.equal(final[k], start[k])}
    assert moved and not moved & front
    assert any(k.startswith("clip.vision_model.encoder.layers.3.mlp") for k in moved)
    assert "clip.visual_projection.weight" in moved


@pytest.mark.slow
def test_ema_weights_are_the_average_of_the_steps_evaluated_kept_and_resumed(corpus, tmp_path):
    """--ema_decay: final_model is the bias-corrected EMA of the raw weights of every step (read back from the
    per-step checkpoints), the evaluation scored those averaged weights, and a resumed run ends with the same."""
    import shutil

    import numpy as np

    from modeling_liqe.evaluation import predict_split
    from modeling_liqe.modeling_liqe import LIQEModel
    from modeling_liqe.processing_liqe import LIQEProcessor
    from modeling_liqe.train_data import eval_dataloader, load_corpora
    from modeling_liqe.weight_average import EMA_WEIGHTS_NAME

    decay = 0.3
    straight = tmp_path / "straight"
    main(ladder_args(corpus, straight, checkpointing_steps=1, ema_decay=decay))
    raw = [{k.removeprefix("model."): v.double() for k, v in _weights(straight / f"checkpoint-{step}").items()}
           for step in range(1, 7)]
    ages = [decay ** (len(raw) - 1 - i) for i in range(len(raw))]  # sum_i d^(t-i) w_i / sum_i d^(t-i)
    expected = {k: sum(a * w[k] for a, w in zip(ages, raw)) / sum(ages) for k in raw[0]}
    final = _weights(straight / "final_model")
    trained = [k for k in final if not torch.equal(raw[0][k], raw[-1][k])]
    assert "clip.visual_projection.weight" in trained
    derived = {"prompt_text_features", "prompt_text_fingerprint"}  # encoded from the saved text tower at save time
    assert derived < set(final)
    for key in set(final) - derived:  # float32 updates against a float64 recurrence: a few ulps (values up to ~20)
        assert torch.allclose(final[key].double(), expected[key], atol=1e-6, rtol=1e-6), key
    # not the last step's weights: the average lags them
    assert any(not torch.allclose(final[k].double(), raw[-1][k], atol=1e-4) for k in trained)
    assert all((straight / f"checkpoint-{step}" / EMA_WEIGHTS_NAME).is_file() for step in range(1, 7))
    evals = _log(straight / "eval_results.jsonl")
    assert evals[-1]["step"] == 6 and evals[-1]["weights"] == f"ema {decay}"
    assert f"exponential moving average of the weights (decay {decay})" in (straight / "final_model" / "README.md").read_text()

    # the last evaluation's per-image scores are the averaged model's
    averaged = LIQEModel.from_pretrained(straight / "final_model").eval()
    processor = LIQEProcessor.from_pretrained(straight / "final_model")
    loader = eval_dataloader(load_corpora([str(corpus)], sessions=["seeded"])[0], 0, "validation",
                             processor.image_processor, batch_size=4)
    scores = predict_split(averaged, loader)["score"]
    logged = json.loads((straight / "eval_predictions.json").read_text())["synthetic"]["validation"]["score"]
    assert np.allclose(scores, logged, atol=1e-5, rtol=0)

    # resumed from step 3 in a fresh folder: the same average at the end
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copytree(straight / "checkpoint-3", resumed / "checkpoint-3")
    main(ladder_args(corpus, resumed, checkpointing_steps=3, ema_decay=decay, resume_from_checkpoint="latest"))
    again = _weights(resumed / "final_model")
    for key in final:
        assert torch.allclose(again[key].double(), final[key].double(), atol=1e-6, rtol=0), key
    # a checkpoint without EMA weights, or with another decay, stops the resumed run with the reason
    (resumed / "checkpoint-6" / EMA_WEIGHTS_NAME).unlink()
    with pytest.raises(SystemExit, match=f"checkpoint-6.*{EMA_WEIGHTS_NAME}.*without --ema_decay"):
        main(ladder_args(corpus, resumed, ema_decay=decay, resume_from_checkpoint="latest", num_train_epochs=3))
    with pytest.raises(SystemExit, match="decay 0.3, this run averages with decay 0.5"):
        main(ladder_args(corpus, resumed, ema_decay=0.5, resume_from_checkpoint=str(resumed / "checkpoint-3"),
                         num_train_epochs=3))
    # ... as does another ladder stream (here grey photos tinted): the data plan records it
    from modeling_liqe.train_state import ResumeError

    with pytest.raises(ResumeError, match=r"another data plan.*\['tint_grey', 0.5\]"):
        main(ladder_args(corpus, resumed, ema_decay=decay, ladder_tint_grey=0.5,
                         resume_from_checkpoint=str(resumed / "checkpoint-3"), num_train_epochs=3))


def _fresh_start(corpus, folder, **overrides):
    """The run's starting weights: the same arguments, no step (the NSS start and its random readout)."""
    from modeling_liqe.model_folder import save_model_folder

    model_args, _, training_args = parse_arguments(ladder_args(corpus, folder, **overrides))
    model, processor, _ = train_accelerate.build_model(model_args, training_args.seed)
    save_model_folder(folder, model.eval(), processor)
    return folder


def test_the_distortion_loss_weight_scales_that_task_in_the_step(corpus, tmp_path):
    plain = main(ladder_args(corpus, tmp_path / "plain", max_train_steps=2))
    weighted = main(ladder_args(corpus, tmp_path / "weighted", max_train_steps=2, distortion_loss_weight=3.0))
    assert plain["completed_steps"] == weighted["completed_steps"] == 2
    log_plain, log_weighted = _log(tmp_path / "plain" / "train_log.jsonl"), _log(tmp_path / "weighted" / "train_log.jsonl")
    assert [r["dwa_weights"] for r in log_weighted] == [[1.0, 3.0]] * 2 and log_plain[0]["dwa_weights"] == [1.0, 1.0]
    first = log_weighted[0]
    assert first["loss"] == pytest.approx(first["loss_quality"] + 3.0 * first["loss_distortion"])
    # the same seed and batches: step 1's losses agree, and the heavier distortion task moves the weights otherwise
    assert first["loss_distortion"] == pytest.approx(log_plain[0]["loss_distortion"], abs=1e-6)
    a, b = _weights(tmp_path / "plain" / "final_model"), _weights(tmp_path / "weighted" / "final_model")
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_validation_photos_are_evaluated_and_count_in_the_selection(corpus, tmp_path):
    from modeling_liqe.evaluation import mean_over_corpora

    out = tmp_path / "run"
    result = main(ladder_args(corpus, out, max_train_steps=2, validation_photos="cell moon",
                              selection_metric="level_rank_srcc+distortion_accuracy"))
    evaluation = _log(out / "eval_results.jsonl")[-1]["results"]
    photos = evaluation["photos"]["validation"]
    # 2 photos x the one trained distortion type (ladder_distortions 1) x 5 levels, ranked within each photo
    assert photos["num_images"] == 10 and math.isfinite(photos["level_rank_srcc"])
    assert 0.0 <= photos["distortion_accuracy"] <= 1.0
    expected = (mean_over_corpora(evaluation, "validation", "level_rank_srcc")
                + mean_over_corpora(evaluation, "validation", "distortion_accuracy"))
    assert result["best_metric"] == pytest.approx(expected)
    # the corpus's own validation split counts too: the mean is not the photos' alone
    assert set(evaluation) == {"synthetic", "photos"} and "validation" in evaluation["synthetic"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(validation_photos="lena"), r"--validation_photos: \['lena'\] not among \['cell', 'moon', 'motorcycle'\]"),
        (dict(validation_photos="extra", ladder_photos="bundled+"), "--ladder_photos bundled\\+ trains on those photos"),
        (dict(train_source="corpora"), "--cache_frozen_front needs --train_source ladders"),
        (dict(vision_init="random", freeze=""), "cannot train from a cached front: .*embeddings trains"),
        (dict(freeze="nss_front clip\\.nothing"), r"--freeze: no parameter matches \['clip\\\\.nothing'\]"),
        (dict(freeze="nss_front ("), "--freeze: '\\(' is not a regular expression"),
        (dict(vision_init="dct"), "--vision_init must be 'random', 'nss' or 'nss_spread'"),
        # the spread start needs its own geometry (a 4th block and 11 pooling heads); the demo one has neither
        (dict(vision_init="nss_spread"), "--vision_init nss_spread: spread=True needs at least 4 vision layers"),
        (dict(vision_init="nss_spread", geometry="demo", vision_layers=4), "--vision_init nss_spread: spread=True needs >= 11 vision attention heads"),
        (dict(train_source="folder", cache_frozen_front="false"), "--train_source must be 'corpora' or 'ladders'"),
        (dict(selection_metric="plcc"), "--selection_metric must be one of"),
        (dict(ema_decay=1.0), r"--ema_decay must be in \(0, 1\)"),
        (dict(ema_decay=0.0), r"--ema_decay must be in \(0, 1\)"),
        (dict(task_weighting="uniform"), "--task_weighting must be 'dwa' or 'fixed', got 'uniform'"),
        (dict(task_weighting="dwa", distortion_loss_weight=3.0), "--distortion_loss_weight 3.0 needs --task_weighting fixed"),
        (dict(distortion_loss_weight=-1.0), "--distortion_loss_weight must be a finite number >= 0, got -1.0"),
        (dict(distortion_loss_weight="nan"), "--distortion_loss_weight must be a finite number >= 0, got nan"),
        (dict(ladder_tint_grey=1.5), r"--ladder_tint_grey: tint_grey must be a probability in \[0, 1\], got 1.5"),
        (dict(ladder_tint_grey=-0.5), r"--ladder_tint_grey: tint_grey must be a probability in \[0, 1\], got -0.5"),
        (dict(ladder_exposure_jitter=2.5), r"--ladder_exposure_jitter: exposure_jitter must be in \[0, 2\]"),
        (dict(vision_init="random", freeze="", cache_frozen_front="false", nss_luminance_normalised="true"),
         "--nss_luminance_normalised needs --vision_init nss or nss_spread"),
        (dict(ladder_sky_dead_leaves=-1), "--ladder_sky_dead_leaves must be a count >= 0, got -1"),
        (dict(ladder_dead_leaves=-4), "--ladder_dead_leaves must be a count >= 0, got -4"),
        (dict(ladder_linear_darken=3), r"--ladder_linear_darken: linear_darken must be a probability in \[0, 1\], got 3"),
        (dict(ladder_sky_composite=1.2), r"--ladder_sky_composite: sky_composite must be a probability in \[0, 1\], got 1.2"),
    ],
)
def test_ladder_recipe_misconfigurations_stop_with_the_reason(corpus, tmp_path, overrides, message):
    with pytest.raises(SystemExit, match=message):
        main(ladder_args(corpus, tmp_path / "run", **overrides))
    assert not (tmp_path / "run" / "final_model").exists()


@pytest.mark.slow
def test_two_gloo_processes_train_the_ladder_recipe_each_on_its_own_stream(corpus, tmp_path):
    common = dict(num_train_epochs=1, steps_per_epoch=3)
    two = tmp_path / "two"
    # With a moving average and a checkpoint every step: the average is taken over the DDP model's steps and each
    # checkpoint's ema.safetensors is written once, by the main process.
    output = _finish(_launch(ladder_args(corpus, two, ema_decay=0.5, checkpointing_steps=1, **common), num_processes=2))
    assert "Num processes: 2" in output and "DistributedType.MULTI_CPU" in output
    one = tmp_path / "one"
    main(ladder_args(corpus, one, **common))
    assert [r["step"] for r in _log(two / "train_log.jsonl")] == [1, 2, 3]
    assert [r["lr"] for r in _log(two / "train_log.jsonl")] == [r["lr"] for r in _log(one / "train_log.jsonl")]
    two_weights, one_weights = _weights(two / "final_model"), _weights(one / "final_model")
    # rank 1 draws other ladders, so the synchronised update differs from one process's; the front stays fixed
    assert not torch.equal(two_weights["clip.visual_projection.weight"], one_weights["clip.visual_projection.weight"])
    assert all(torch.equal(v, one_weights[k]) for k, v in _front(two_weights).items())
    from modeling_liqe.weight_average import EMA_WEIGHTS_NAME

    raw = [{k.removeprefix("model."): v.double() for k, v in _weights(two / f"checkpoint-{step}").items()}
           for step in (1, 2, 3)]
    assert all((two / f"checkpoint-{step}" / EMA_WEIGHTS_NAME).is_file() for step in (1, 2, 3))
    ages = [0.25, 0.5, 1.0]  # 0.5 ** (3 - 1 - i)
    for key in set(two_weights) - {"prompt_text_features", "prompt_text_fingerprint"}:
        expected = sum(a * w[key] for a, w in zip(ages, raw)) / sum(ages)
        assert torch.allclose(two_weights[key].double(), expected, atol=1e-6, rtol=1e-6), key


# -- end to end (subprocesses) ----------------------------------------------------------------------------------------
def _launch(args, num_processes=1, threads=1):
    """`accelerate launch train_accelerate.py ARGS`, its console in a file (a pipe nobody reads would block it)."""
    import subprocess
    from pathlib import Path

    from tests.training_helpers import accelerate_command, subprocess_env

    command = accelerate_command(num_processes) + [str(REPO_ROOT / "train_accelerate.py"), *args]
    # Beside the run's output folder (pytest's tmp_path), not in /tmp where nothing would remove it.
    output_dir = Path(args[args.index("--output_dir") + 1])
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    console = open(output_dir.parent / f"{output_dir.name}-console.log", "w+", encoding="utf-8")
    # A session of its own: `accelerate launch` runs the script as a child, and a SIGKILL must reach that child.
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=subprocess_env(threads, num_processes), stdout=console,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    process.console = console.name
    return process


def _finish(process, timeout=600):
    from pathlib import Path

    process.wait(timeout=timeout)
    output = Path(process.console).read_text(errors="replace")
    assert process.returncode == 0, output[-6000:]
    return output


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def _log(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_latest_equals_an_uninterrupted_run(corpus, straight_run, tmp_path):
    import os
    import signal
    import time

    common = STRAIGHT
    straight, _ = straight_run

    killed = tmp_path / "killed"
    process = _launch(tiny_args(corpus, killed, **common))
    log = killed / "train_log.jsonl"
    deadline = time.monotonic() + 600
    # checkpoints at 3, 4 (epoch), 6, 8 (epoch): kill once step 7 is logged, mid-epoch after checkpoint-6
    while not (log.is_file() and any(r["step"] == 7 for r in _log(log))):
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the launcher and the training process it started
    process.wait()
    steps_before = [r["step"] for r in _log(log)]
    assert steps_before[-1] == 7 and not (killed / "final_model").exists()
    time.sleep(2)  # nothing may write after the kill
    assert [r["step"] for r in _log(log)] == steps_before
    assert sorted(p.name for p in killed.iterdir() if p.name.startswith("checkpoint-")) == [
        "checkpoint-3", "checkpoint-4", "checkpoint-6"]

    # the resume reads only what the killed run left on disk: in this process (a launch is ~15 s of start-up),
    # its one torch thread undone afterwards
    threads = torch.get_num_threads()
    try:
        main(tiny_args(corpus, killed, resume_from_checkpoint="latest", **common))
    finally:
        torch.set_num_threads(threads)
    steps = [r["step"] for r in _log(log)]
    assert steps == list(range(1, 8)) + [7, 8]  # resumed right after checkpoint-6: nothing before it redone or lost
    straight_log = _log(straight / "train_log.jsonl")
    resumed_log = _log(log)[-2:]
    for ours, theirs in zip(resumed_log, straight_log[-2:]):
        assert ours["step"] == theirs["step"] and ours["lr"] == theirs["lr"] and ours["dwa_weights"] == theirs["dwa_weights"]
        assert ours["loss"] == pytest.approx(theirs["loss"], abs=1e-6)
    expected, actual = _weights(straight / "final_model"), _weights(killed / "final_model")
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.allclose(actual[key].double(), expected[key].double(), atol=1e-6, rtol=0), key
    evals = _log(killed / "eval_results.jsonl")
    assert [e["step"] for e in evals] == [4, 8]  # the killed epoch's evaluation ran once, after the resume


@pytest.mark.slow
def test_two_gloo_processes_gather_the_one_process_metrics_with_the_one_process_schedule(corpus, tmp_path):
    from modeling_liqe import LIQEModel
    from modeling_liqe.evaluation import evaluate_corpora
    from modeling_liqe.image_processing_liqe import LIQEImageProcessor
    from modeling_liqe.train_data import eval_dataloader, load_corpora

    common = dict(num_train_epochs=2, steps_per_epoch=2, lr_period_epochs=1, lr_scheduler_type="cosine_epochs")
    two = tmp_path / "two"
    output = _finish(_launch(tiny_args(corpus, two, **common), num_processes=2))
    assert "Num processes: 2" in output and "DistributedType.MULTI_CPU" in output
    one = tmp_path / "one"
    main(tiny_args(corpus, one, **common))

    two_log, one_log = _log(two / "train_log.jsonl"), _log(one / "train_log.jsonl")
    assert [r["step"] for r in two_log] == [r["step"] for r in one_log] == [1, 2, 3, 4]
    assert [r["lr"] for r in two_log] == [r["lr"] for r in one_log] == pytest.approx([1e-3, 1e-3, 0.0, 0.0])
    assert not torch.equal(_weights(two / "final_model")["clip.visual_projection.weight"],
                           _weights(one / "final_model")["clip.visual_projection.weight"])  # twice the data a step

    gathered = _log(two / "eval_results.jsonl")[-1]["results"]
    gathered_scores = json.loads((two / "eval_predictions.json").read_text())
    model = LIQEModel.from_pretrained(two / "final_model").eval()
    corpora = load_corpora([corpus], ["seeded"], [4])
    loaders = {"synthetic": {split: eval_dataloader(corpora[0], 0, split, LIQEImageProcessor(), batch_size=5)
                             for split in ("validation", "test")}}
    alone, scores = evaluate_corpora(model, loaders, return_predictions=True)
    for split in ("validation", "test"):
        # the same images once each, in dataset order, with the same scores (other batch shapes: float rounding)
        assert gathered_scores["synthetic"][split]["mos"] == scores["synthetic"][split]["mos"]
        assert gathered_scores["synthetic"][split]["score"] == pytest.approx(scores["synthetic"][split]["score"], abs=1e-5)
        for key, value in alone["synthetic"][split].items():
            # rank metrics and accuracies exactly; PLCC / RMSE go through a least-squares logistic fit whose
            # optimum moves with 1e-7 changes of the scores on 6-12 images (measured: up to 3e-4)
            tolerance = 1e-3 if key in ("plcc", "rmse") else 1e-9
            assert gathered["synthetic"][split][key] == pytest.approx(value, abs=tolerance), (split, key)


@pytest.mark.slow
def test_the_default_config_shortened_leaves_a_folder_that_loads_without_this_package(corpus, tmp_path, monkeypatch):
    from modeling_liqe.scoring import LIQEScorer
    from tests.conftest import FIXTURES
    from tests.modeling_liqe import test_remote_code
    from tests.modeling_liqe.test_remote_code import _run_child

    # the child imports torch + transformers and scores 9 photos twice: minutes on a loaded 2-core machine
    monkeypatch.setattr(test_remote_code, "CHILD_TIMEOUT_S", 900)

    out = tmp_path / "demo"
    # configs/synthetic_demo.yaml as is (small geometry, its optimiser), on the small corpus and for 4 steps; in this
    # process (the launched path is the other launched tests'; a launch costs ~15 s of start-up), its torch_threads: 1
    # undone afterwards
    threads = torch.get_num_threads()
    try:
        main(["--dataset_names", str(corpus), "--synthetic_dir", "", "--output_dir", str(out),
              "--max_train_steps", "4", "--steps_per_epoch", "2", "--eval_batch_size", "4",
              "--ladder_dead_leaves", "2"])  # the config's 48 cost 25 s to draw; 2 exercise the same path
    finally:
        torch.set_num_threads(threads)
    folder = out / "best_model"
    result = _run_child(__import__("sys").executable, folder, tmp_path / "child.json", workdir=tmp_path)
    assert result["model_class"].startswith("transformers_modules.")
    rows = {row["path"]: row for row in LIQEScorer(str(folder), device="cpu").score_paths(
        sorted(str(p) for p in (FIXTURES / "images").glob("*.png")))}
    assert len(rows) == len(result["images"]) == 9
    for path, row in rows.items():
        assert row["error"] is None
        assert result["images"][path.split("/")[-1]]["score"] == pytest.approx(row["score"], abs=1e-5)


def test_the_luminance_normalised_front_trains_from_its_cache_and_stays_fixed(corpus, tmp_path):
    result = main(ladder_args(corpus, tmp_path / "run", max_train_steps=2, nss_luminance_normalised="true"))
    assert result["completed_steps"] == 2
    start = _weights(_fresh_start(corpus, tmp_path / "start", nss_luminance_normalised="true"))
    absolute = _weights(_fresh_start(corpus, tmp_path / "absolute"))
    final = _weights(tmp_path / "run" / "final_model")
    front = _front(final)
    # the fixed front is the normalised start, untouched by training, and it differs from the absolute one where the
    # logs are written (block 2's MLP)
    assert front and all(torch.equal(front[k], start[k]) for k in front)
    differs = [k for k in front if not torch.equal(start[k], absolute[k])]
    assert differs and all(k.startswith("clip.vision_model.encoder.layers.1.mlp") for k in differs)
    assert "luminance-normalised energies" in (tmp_path / "run" / "final_model" / "README.md").read_text()
