"""Corpora, the per-corpus batch sampler and the windows cut in DataLoader workers."""

from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from modeling_liqe.train_data import (
    CorpusError,
    MultiCorpusBatchSampler,
    TrainWindowsDataset,
    collate_windows,
    load_corpora,
    train_dataloader,
)
from tests.training_helpers import build_tiny_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_tiny_corpus(tmp_path_factory.mktemp("corpus") / "tiny")


def test_each_step_takes_each_corpus_batch_size():
    sampler = MultiCorpusBatchSampler([10, 7, 3], [4, 2, 5], seed=1, end_step=12)
    for items in sampler:
        counts = Counter(corpus for corpus, _, _ in items)
        assert counts == {0: 4, 1: 2, 2: 3}  # a corpus smaller than its batch gives all of itself
        for corpus in range(3):
            rows = [row for c, row, _ in items if c == corpus]
            assert len(set(rows)) == len(rows)  # no image twice in one batch


def test_a_corpus_restarts_reshuffled_when_exhausted():
    sampler = MultiCorpusBatchSampler([10, 7], [4, 2], seed=3)
    # corpus 0: 2 whole batches a pass (8 of 10 rows, the remainder dropped), corpus 1: 3 batches a pass
    passes = [[row for step in range(2 * k, 2 * k + 2) for row in sampler.rows(0, step)] for k in range(4)]
    for rows in passes:
        assert len(rows) == len(set(rows)) == 8
    assert len({tuple(rows) for rows in passes}) == 4  # every pass is a new permutation
    seen = {row for step in range(30) for row in sampler.rows(1, step)}
    assert seen == set(range(7))  # every image is reached over passes


def test_steps_are_a_function_of_the_step_so_resume_and_processes_are_exact():
    full = list(MultiCorpusBatchSampler([10, 7], [4, 2], seed=5, end_step=10))
    resumed = list(MultiCorpusBatchSampler([10, 7], [4, 2], seed=5, start_step=6, end_step=10))
    assert resumed == full[6:]
    ranks = [list(MultiCorpusBatchSampler([10, 7], [4, 2], seed=5, end_step=5, rank=r, num_replicas=2)) for r in (0, 1)]
    assert ranks[0] == full[0:10:2] and ranks[1] == full[1:10:2]  # the processes never share a batch
    other_seed = list(MultiCorpusBatchSampler([10, 7], [4, 2], seed=6, end_step=10))
    assert other_seed != full
    assert len(MultiCorpusBatchSampler([10], [4], start_step=2, end_step=9)) == 7


def test_an_empty_corpus_is_refused():
    with pytest.raises(CorpusError, match="empty"):
        MultiCorpusBatchSampler([10, 0], [4, 2])


def test_load_corpora_names_sessions_and_errors(corpus, tmp_path):
    loaded = load_corpora([corpus], ["seeded"], [4])
    assert [c.name for c in loaded] == ["synthetic"] and len(loaded[0]) == 24
    assert {split: len(ds) for split, ds in loaded[0].splits.items()} == {"train": 24, "validation": 6, "test": 12}
    with pytest.raises(CorpusError, match="share a name"):
        load_corpora([corpus, corpus], ["seeded"], [4])
    two = load_corpora([corpus, corpus], ["seeded"], [4, 2], names=["a", "b"])
    assert [(c.name, c.batch_size) for c in two] == [("a", 4), ("b", 2)]
    with pytest.raises(CorpusError, match="2 batch sizes for 3 corpora"):
        load_corpora([corpus] * 3, None, [4, 2], names=["a", "b", "c"])
    with pytest.raises(CorpusError, match="no corpus given"):
        load_corpora([])
    with pytest.raises(CorpusError, match=f"corpus {tmp_path / 'absent'}"):
        load_corpora([tmp_path / "absent"])

    # a session whose training split is empty: the error names the corpus and the session
    table = pq.read_table(corpus / "splits" / "seeded.parquet").to_pydict()
    table["split"] = ["test"] * len(table["split"])
    pq.write_table(pa.table(table), corpus / "splits" / "nothing_to_train.parquet")
    try:
        with pytest.raises(CorpusError, match="corpus synthetic .*'nothing_to_train'.* has no training image"):
            load_corpora([corpus], ["nothing_to_train"], [4])
    finally:
        (corpus / "splits" / "nothing_to_train.parquet").unlink()


def test_windows_are_seeded_per_image_and_do_not_depend_on_workers(corpus):
    from modeling_liqe.image_processing_liqe import LIQEImageProcessor

    corpora = load_corpora([corpus, corpus], ["seeded"], [4, 3], names=["a", "b"])
    processor = LIQEImageProcessor()
    batches = [list(train_dataloader(corpora, processor, seed=9, start_step=0, end_step=3, num_workers=w)) for w in (0, 2)]
    for left, right in zip(*batches):
        for key in left:
            assert torch.equal(left[key], right[key]), key
    first = batches[0][0]
    assert first["pixel_values"].shape == (7, 3, 3, 224, 224)
    assert first["corpus_ids"].tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert first["scene_labels"].shape == (7, 9) and bool((first["scene_labels"].sum(1) >= 1).all())
    assert first["distortion_labels"].dtype == torch.long and bool((first["distortion_labels"] >= 0).all())
    # the same seed gives the same windows; other steps flip the (224 px, one-window) image differently
    dataset = TrainWindowsDataset(corpora, processor)
    a = dataset[(0, 0, (9, 0, 0, 0))]["pixel_values"]
    assert torch.equal(a, dataset[(0, 0, (9, 0, 0, 0))]["pixel_values"])
    assert any(not torch.equal(a, dataset[(0, 0, (9, step, 0, 0))]["pixel_values"]) for step in range(1, 10))
    assert collate_windows([dataset[(0, 0, (9, 0, 0, 0))]])["patch_mask"].tolist() == [[1, 1, 1]]


def test_quality_pairs_stay_within_a_corpus(corpus):
    """The batch's corpus ids make the model's ranking loss the mean of per-corpus losses, never a cross pair."""
    from modeling_liqe.geometries import init_random_model
    from modeling_liqe.losses import quality_ranking_loss

    corpora = load_corpora([corpus, corpus], ["seeded"], [4, 3], names=["a", "b"])
    model, processor = init_random_model("tiny", seed=0)
    batch = next(iter(train_dataloader(corpora, processor.image_processor, seed=2, start_step=0, end_step=1)))
    model.train()
    # opposite MOS orders in the two corpora: cross-corpus pairs would change the loss
    batch["mos"] = torch.tensor([1.0, 2.0, 3.0, 4.0, 30.0, 20.0, 10.0])
    output = model(**batch)
    score = output.score.detach()
    per_corpus = [quality_ranking_loss(score[:4], batch["mos"][:4]), quality_ranking_loss(score[4:], batch["mos"][4:])]
    assert torch.allclose(output.loss_quality.detach(), torch.stack(per_corpus).mean(), atol=1e-6)
    assert not torch.allclose(output.loss_quality.detach(), quality_ranking_loss(score, batch["mos"]), atol=1e-4)
