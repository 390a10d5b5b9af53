"""Shared pipeline pieces: release folder lookup, MATLAB readers, case-insensitive files, Hub push policy."""

import numpy as np
import pytest
from scipy.io import savemat

from datasets_scripts import koniq10k, live
from datasets_scripts.common import (CaseInsensitiveFiles, ConversionError, load_mat, mat_numbers, mat_strings,
                                     parse_number, resolve_root)

from .fabricate import cell_vector, fabricate_koniq


def test_resolve_root(tmp_path):
    (tmp_path / "databaserelease2").mkdir()
    (tmp_path / "databaserelease2" / "dmos_realigned.mat").write_bytes(b"")
    assert resolve_root(tmp_path, live.SPEC) == (tmp_path / "databaserelease2").resolve()
    assert resolve_root(tmp_path / "databaserelease2", live.SPEC) == (tmp_path / "databaserelease2").resolve()
    with pytest.raises(ConversionError, match=r"not a LIVE .* release: dmos_realigned\.mat is neither there nor in"):
        resolve_root(tmp_path / "elsewhere", live.SPEC)


def test_mat_readers(tmp_path):
    savemat(tmp_path / "m.mat", {"names": cell_vector(["a.bmp", "b.JPG"], column=True), "row": np.arange(3.0)[None], "grid": np.ones((2, 2))})
    names, row, grid = load_mat(tmp_path / "m.mat", "names", "row", "grid")
    assert mat_strings(names, "w") == ["a.bmp", "b.JPG"] and mat_numbers(row, "w") == [0.0, 1.0, 2.0]
    with pytest.raises(ConversionError, match=r"w: expected a vector, got shape \(2, 2\)"):
        mat_numbers(grid, "w")
    with pytest.raises(ConversionError, match=r"w: entry 1 is not a string"):
        mat_strings(row, "w")
    with pytest.raises(ConversionError, match=r"m\.mat: no variable missing \(it holds \['grid', 'names', 'row'\]\)"):
        load_mat(tmp_path / "m.mat", "missing")
    with pytest.raises(ConversionError, match=r"x\.mat: annotation file is missing"):
        load_mat(tmp_path / "x.mat", "a")


def test_parse_number_and_case_insensitive_files(tmp_path):
    assert parse_number(' "3.5" ', "w") == 3.5 and parse_number("", "w", allow_empty=True) is None
    with pytest.raises(ConversionError, match="w: 'nan' is not a finite number"):
        parse_number("nan", "w")
    (tmp_path / "Images").mkdir()
    (tmp_path / "Images" / "5.JPG").write_bytes(b"x")
    files = CaseInsensitiveFiles(tmp_path)
    assert files.find("Images/5.jpg") == tmp_path / "Images" / "5.JPG" and files.find("Images/6.jpg") is None


@pytest.mark.parametrize("public, expected_private", [(False, True), (True, False)])
def test_push_is_private_unless_the_terms_allow_or_public_is_asked(tmp_path, monkeypatch, public, expected_private):
    calls = []
    monkeypatch.setattr("huggingface_hub.HfApi.create_repo", lambda self, repo_id, **kw: calls.append(kw))
    monkeypatch.setattr("huggingface_hub.HfApi.upload_folder", lambda self, **kw: calls.append(kw))
    release = fabricate_koniq(tmp_path / "koniq10k", [("1.jpg", 3.0, 0.5, "training"), ("2.jpg", 2.0, 0.5, "test")])
    koniq10k.convert(release, tmp_path / "out", push_to_hub_repo="org/koniq", public=public)
    assert calls[0]["private"] is expected_private and calls[1]["repo_id"] == "org/koniq"


def test_liqe_labels_for_a_corpus_without_lists_is_refused(tmp_path):
    import dataclasses

    from datasets_scripts.common import OfficialRelease, convert_corpus

    spec = dataclasses.replace(koniq10k.SPEC, liqe_folder=None, liqe_prefix=None)
    with pytest.raises(ConversionError, match="no label lists for KonIQ-10k"):
        convert_corpus(spec, OfficialRelease(root=tmp_path, rows=[]), tmp_path / "out", liqe_labels=tmp_path)
