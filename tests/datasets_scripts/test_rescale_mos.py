"""`datasets_scripts.rescale_mos`: a copy of a corpus with its MOS on another scale, under a new corpus name."""

import numpy as np
import pytest

from datasets_scripts import rescale_mos
from datasets_scripts.splits import load_session
from modeling_liqe.analysis_data import load_converted
from tests.modeling_liqe.analysis_corpora import write_toy_corpus


def test_rescaled_copy_keeps_images_and_splits(tmp_path):
    source = write_toy_corpus(tmp_path / "toy", "toy", scale="one_to_five", references=2, levels=3)
    before = sorted(p.read_bytes() for p in (source / "data").glob("*.parquet"))
    assert rescale_mos.main([str(source), str(tmp_path / "live"), "--name", "toy_live"]) == 0
    original, copy = load_converted(source), load_converted(tmp_path / "live")
    assert copy.name == "toy_live" and copy.image_ids == original.image_ids and copy.images == original.images
    np.testing.assert_allclose(copy.mos, 100 * ((original.mos - 1) / 4) ** 1.5, rtol=1e-6, atol=1e-4)
    for session in ("seeded", "liqe_session_02"):
        assert ({s: d["image_id"] for s, d in load_session(tmp_path / "live", session).items()}
                == {s: d["image_id"] for s, d in load_session(source, session).items()})
    assert "Rescaled copy" in (tmp_path / "live" / "README.md").read_text()
    assert sorted(p.read_bytes() for p in (source / "data").glob("*.parquet")) == before  # source untouched


def test_out_of_range_mos_and_occupied_folder_are_clear_errors(tmp_path, capsys):
    source = write_toy_corpus(tmp_path / "toy", "toy", scale="zero_to_hundred", references=2, levels=3)
    assert rescale_mos.main([str(source), str(tmp_path / "out"), "--name", "x"]) == 1
    assert "outside [1.0, 5.0]" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # every MOS is checked before anything is written
    assert rescale_mos.main([str(source), str(tmp_path / "ok"), "--name", "x", "--low", "0", "--high", "100"]) == 0
    assert rescale_mos.main([str(source), str(tmp_path / "ok"), "--name", "x", "--low", "0", "--high", "100"]) == 1
    assert "not empty" in capsys.readouterr().err
    with pytest.raises(ValueError, match="high > low"):
        rescale_mos.rescale([1.0], low=5, high=1)


def _set_levels(corpus, reference_suffix, level):
    """Fabricate a neighbour: every row of one reference photo gets distortion level `level`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for file in (corpus / "data").glob("*.parquet"):
        table = pq.read_table(file)
        levels = [level if ref.endswith(reference_suffix) else old for ref, old in
                  zip(table.column("reference_id").to_pylist(), table.column("distortion_level").to_pylist())]
        index = table.column_names.index("distortion_level")
        table = table.set_column(index, table.schema.field(index), pa.array(levels, table.schema.field(index).type))
        pq.write_table(table, file)


def test_mild_subset_on_its_own_range_keeps_ids_images_and_every_split_scheme(tmp_path):
    source = write_toy_corpus(tmp_path / "toy", "toy", scale="one_to_five", references=3, levels=4)
    before = sorted(p.read_bytes() for p in (source / "data").glob("*.parquet"))
    out = tmp_path / "mild"
    assert rescale_mos.main([str(source), str(out), "--name", "toy_mild", "--max-level", "2", "--own-range"]) == 0
    original, copy = load_converted(source), load_converted(out)
    kept = [row for row in range(len(original)) if original.distortion_level[row] <= 2]
    assert 0 < len(kept) < len(original) and copy.name == "toy_mild"
    assert copy.image_ids == [original.image_ids[row] for row in kept]
    assert copy.images == [original.images[row] for row in kept]
    assert copy.partition == [original.partition[row] for row in kept]
    # The kept rows run over the whole new scale: the best at 100, the worst at 0, the power map in between.
    low, high = original.mos[kept].min(), original.mos[kept].max()
    np.testing.assert_allclose(copy.mos, 100 * ((original.mos[kept] - low) / (high - low)) ** 1.5, atol=1e-3)
    assert copy.mos.max() == pytest.approx(100) and copy.mos.min() == pytest.approx(0, abs=1e-6)
    for session in ("seeded", "liqe_session_01", "liqe_session_02"):  # load_session checks row ids against ids
        source_split = {i: s for s, d in load_session(source, session).items() for i in d["image_id"]}
        copy_split = {i: s for s, d in load_session(out, session).items() for i in d["image_id"]}
        assert copy_split == {i: s for i, s in source_split.items() if i in set(copy.image_ids)}
    assert "distortion level <= 2" in (out / "README.md").read_text()
    assert sorted(p.read_bytes() for p in (source / "data").glob("*.parquet")) == before  # source untouched

    # --min-mos keeps rows by source MOS; without --own-range the given (default 1-5) scale applies.
    assert rescale_mos.main([str(source), str(tmp_path / "good"), "--name", "g", "--min-mos", "3.5"]) == 0
    good = load_converted(tmp_path / "good")
    expected = original.mos[original.mos >= 3.5]
    assert len(good) == expected.size
    np.testing.assert_allclose(good.mos, 100 * ((expected - 1) / 4) ** 1.5, atol=1e-3)


def test_subset_errors_name_the_problem(tmp_path, capsys):
    source = write_toy_corpus(tmp_path / "toy", "toy", scale="one_to_five", references=3, levels=4)
    cases = [
        (["--min-mos", "6"], "the subset would be empty"),
        (["--max-level", "0"], "at least 1"),
        (["--max-level", "2", "--own-range", "--low", "1"], "do not give --low/--high"),
        # level 1 of the first type only: a single MOS value, no range to re-scale over
        (["--min-mos", "4.99", "--own-range"], "span no range"),
    ]
    for options, message in cases:
        assert rescale_mos.main([str(source), str(tmp_path / "out"), "--name", "x", *options]) == 1
        assert message in capsys.readouterr().err, options
        assert not (tmp_path / "out").exists()  # nothing half-written

    # A subset that removes a split's whole content: the data files' test split (photo ref0), then only a split
    # table's (liqe_session_02 tests on photo ref2, which the data files hold in train).
    _set_levels(source, "ref0", 4)
    assert rescale_mos.main([str(source), str(tmp_path / "out"), "--name", "x", "--max-level", "2"]) == 1
    assert "data files' ['test'] split" in capsys.readouterr().err
    _set_levels(source, "ref0", 1)
    _set_levels(source, "ref2", 3)
    assert rescale_mos.main([str(source), str(tmp_path / "out"), "--name", "x", "--max-level", "2"]) == 1
    assert "split table 'liqe_session_02'" in capsys.readouterr().err and not (tmp_path / "out").exists()
    assert rescale_mos.main([str(source), str(tmp_path / "out"), "--name", "x", "--max-level", "3"]) == 0

    bare = tmp_path / "bare"
    (bare / "data").mkdir(parents=True)
    assert rescale_mos.main([str(bare), str(tmp_path / "b"), "--name", "x", "--max-level", "2"]) == 1
    assert "not a corpus written by datasets_scripts" in capsys.readouterr().err
