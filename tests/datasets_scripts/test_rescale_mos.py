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
    assert rescale_mos.main([str(source), str(tmp_path / "ok"), "--name", "x", "--low", "0", "--high", "100"]) == 0
    assert rescale_mos.main([str(source), str(tmp_path / "ok"), "--name", "x", "--low", "0", "--high", "100"]) == 1
    assert "not empty" in capsys.readouterr().err
    with pytest.raises(ValueError, match="high > low"):
        rescale_mos.rescale([1.0], low=5, high=1)
