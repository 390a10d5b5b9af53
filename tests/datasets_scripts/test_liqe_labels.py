"""Parsing the LIQE authors' 6-column label/split files, and the errors for malformed ones."""

import pytest

from datasets_scripts.liqe_labels import LiqeLabel, LiqeLabelError, load_liqe_labels, parse_liqe_line, read_liqe_list

from .fabricate import write_liqe_lists


def test_parse_line():
    label = parse_liqe_line("jp2k/img55.bmp\t65.734951\tjpeg2000 compression\thuman\tstill_life\tinvalid\n", "f:1")
    assert label == LiqeLabel("jp2k/img55.bmp", 65.734951, "jpeg2000 compression", ("human", "still_life"))
    assert parse_liqe_line("a.png\t4.5\tgaussian blur\tlandscape\tinvalid\tinvalid", "f:1").scenes == ("landscape",)


@pytest.mark.parametrize(
    "line, message",
    [
        ("a.png\t4.5\tgaussian blur\tlandscape\tinvalid", r"f:3: expected 6 tab-separated columns, got 5"),
        ("a.png\tfour\tgaussian blur\tlandscape\tinvalid\tinvalid", r"f:3: mos 'four' is not a number"),
        ("a.png\t4.5\tsmudge\tlandscape\tinvalid\tinvalid", r"f:3: unknown distortion label 'smudge'"),
        ("a.png\t4.5\tgaussian blur\tinvalid\tinvalid\tinvalid", r"f:3: first scene 'invalid'"),
        ("a.png\t4.5\tgaussian blur\tlandscape\tstill life\tinvalid", r"f:3: unknown scene 'still life'"),
        ("a.png 4.5 gaussian blur landscape invalid invalid", r"f:3: expected 6 tab-separated columns, got 1"),
    ],
)
def test_malformed_lines(line, message):
    with pytest.raises(LiqeLabelError, match=message):
        parse_liqe_line(line, "f:3")


def test_duplicate_in_one_file(tmp_path):
    path = tmp_path / "x_train_clip.txt"
    path.write_text("a.png\t1\tlens\tnight\tinvalid\tinvalid\na.png\t1\tlens\tnight\tinvalid\tinvalid\n")
    with pytest.raises(LiqeLabelError, match=r"x_train_clip\.txt:2: a\.png is listed twice"):
        read_liqe_list(path)


LABELS = {"a.png": (1.0, "lens", ["night"]), "b.png": (2.0, "motion", ["human", "animal"]), "c.png": (3.0, "contrast", ["plant"])}


def test_load_sessions_from_the_iqa_database_folder(tmp_path):
    sessions = {1: {"a.png": "train", "b.png": "validation", "c.png": "test"},
                2: {"a.png": "test", "b.png": "train", "c.png": "train"}}
    root = write_liqe_lists(tmp_path / "IQA_Database", "corpus", "pre", LABELS, sessions)
    for where in (root, root / "corpus", root / "corpus" / "splits2"):  # any of the three levels works
        labels = load_liqe_labels(where, "corpus", "pre")
        assert labels.sessions == sessions and labels.labels["b.png"].scenes == ("human", "animal")


def test_inconsistent_sessions_are_errors(tmp_path):
    root = write_liqe_lists(tmp_path / "A", "corpus", "pre", LABELS,
                            {1: {"a.png": "train", "b.png": "test", "c.png": "test"}, 2: {"a.png": "train", "b.png": "test"}})
    with pytest.raises(LiqeLabelError, match=r"session 2 names 0 images that session 1 does not and lacks 1"):
        load_liqe_labels(root, "corpus", "pre")
    root = write_liqe_lists(tmp_path / "B", "corpus", "pre", LABELS, {1: {"a.png": "train", "b.png": "test", "c.png": "test"}})
    (root / "corpus/splits2/1/pre_val_clip.txt").write_text("a.png\t1.0\tlens\tnight\tinvalid\tinvalid\n")
    with pytest.raises(LiqeLabelError, match=r"pre_val_clip\.txt: a\.png is also in the train list of session 1"):
        load_liqe_labels(root, "corpus", "pre")
    root = write_liqe_lists(tmp_path / "C", "corpus", "pre", LABELS, {1: {"a.png": "train", "b.png": "test", "c.png": "test"}})
    write_liqe_lists(tmp_path / "C", "corpus", "pre", dict(LABELS, **{"a.png": (1.5, "lens", ["night"])}),
                     {2: {"a.png": "train", "b.png": "test", "c.png": "test"}})
    with pytest.raises(LiqeLabelError, match=r"splits2/2/pre_train_clip\.txt: a\.png carries .*mos=1\.5.* another session says .*mos=1\.0"):
        load_liqe_labels(root, "corpus", "pre")
    root = write_liqe_lists(tmp_path / "D", "corpus", "pre", LABELS, {1: {"a.png": "train"}, 2: {"a.png": "train"}})
    (root / "corpus/splits2/2/pre_test_clip.txt").unlink()
    with pytest.raises(LiqeLabelError, match=r"pre_test_clip\.txt: missing LIQE list for session 2"):
        load_liqe_labels(root, "corpus", "pre")
    with pytest.raises(LiqeLabelError, match=r"no LIQE split folder for this corpus"):
        load_liqe_labels(tmp_path / "nowhere", "corpus", "pre")
