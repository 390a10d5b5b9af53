"""KonIQ-10k converter on a miniature release (JPEG images, scores csv, official sets csv)."""

import pytest

from datasets_scripts import koniq10k
from datasets_scripts.common import ConversionError
from datasets_scripts.splits import load_session

from .fabricate import fabricate_koniq, write_liqe_lists

# (image_name, MOS 1-5, SD, set)
ENTRIES = [("9096574214.jpg", 3.349057, 0.535278, "training"), ("8244017611.jpg", 3.259615, 0.591119, "training"),
           ("10004473376.jpg", 1.096154, 0.3, "training"), ("1814122396.jpg", 4.31, 0.5, "validation"),
           ("826373.jpg", 2.5, 0.6, "test"), ("555.jpg", 3.0, 0.7, "test")]
EXPECTED_SPLIT = {f"1024x768/{n}": {"training": "train"}.get(s, s) for n, _, _, s in ENTRIES}


def rows_of(out_dir, session=None):
    return {r["image_id"]: r for split in load_session(out_dir, session).values() for r in split.remove_columns("image")}


@pytest.mark.parametrize("sets_in_metadata, quote_names", [(False, False), (True, True)])
def test_official_split_and_scores(tmp_path, sets_in_metadata, quote_names):
    fabricate_koniq(tmp_path / "koniq10k", ENTRIES, sets_in_metadata=sets_in_metadata, quote_names=quote_names)
    result = koniq10k.convert(tmp_path, tmp_path / "out")
    assert result.default_split == "official"
    session = load_session(tmp_path / "out")
    assert {i: split for split, d in session.items() for i in d["image_id"]} == EXPECTED_SPLIT
    rows = rows_of(tmp_path / "out")
    for name, mos, sd, _ in ENTRIES:
        row = rows[f"1024x768/{name}"]
        assert row["mos"] == pytest.approx(mos) and row["mos_raw"] == pytest.approx(mos) and row["mos_std"] == pytest.approx(sd)
    card = (tmp_path / "out" / "README.md").read_text()
    assert "do not allow public redistribution" in card and "@article{hosu2020koniq" in card


def test_without_sets_csv_a_seeded_split(tmp_path):
    release = fabricate_koniq(tmp_path / "koniq10k", ENTRIES, sets=False)
    result = koniq10k.convert(release, tmp_path / "out")
    assert result.default_split == "seeded" and list(result.split_counts) == ["seeded"]
    assert "official split is not available" in (tmp_path / "out" / "README.md").read_text()


def test_lists_sessions_alongside_the_official_split(tmp_path):
    release = fabricate_koniq(tmp_path / "koniq10k", ENTRIES)
    ids = sorted(EXPECTED_SPLIT)
    labels = {f"1024x768/{n}": (m, "overexposure", ["human"]) for n, m, _, _ in ENTRIES}
    sessions = {1: dict(zip(ids, ["test", "train", "train", "train", "validation", "train"]))}
    result = koniq10k.convert(release, tmp_path / "out", liqe_labels=write_liqe_lists(tmp_path / "L", "koniq-10k", "koniq10k", labels, sessions))
    assert result.default_split == "liqe_session_01" and sorted(result.split_counts) == ["liqe_session_01", "official"]
    official = load_session(tmp_path / "out", "official")
    assert {i: split for split, d in official.items() for i in d["image_id"]} == EXPECTED_SPLIT
    assert sorted(load_session(tmp_path / "out", 1)["test"]["image_id"]) == [ids[0]]


def test_unlisted_annotated_images_are_left_out_and_reported(tmp_path):
    release = fabricate_koniq(tmp_path / "koniq10k", ENTRIES)
    labels = {f"1024x768/{n}": (m, "overexposure", ["human"]) for n, m, _, _ in ENTRIES[:-1]}
    sessions = {1: {i: "train" for i in labels}}
    result = koniq10k.convert(release, tmp_path / "out", liqe_labels=write_liqe_lists(tmp_path / "L", "koniq-10k", "koniq10k", labels, sessions))
    assert result.num_rows == 5
    assert any("named by no LIQE list" in r and "555.jpg" in r for r in result.reports)
    assert result.split_counts["official"]["test"] == 1  # the official split covers the kept rows only


def test_malformed_csv_rows_and_sets(tmp_path):
    release = fabricate_koniq(tmp_path / "koniq10k", ENTRIES)
    scores = release / "koniq10k_scores_and_distributions.csv"
    text = scores.read_text()
    scores.write_text(text + "777.jpg,0.1,0.2,0.3,0.2,0.2,120,high,0.5,50\n")
    with pytest.raises(ConversionError, match=r"koniq10k_scores_and_distributions\.csv:8, MOS: 'high' is not a number"):
        koniq10k.convert(release, tmp_path / "out")
    scores.write_text(text + "777.jpg,0.1,0.2\n")
    with pytest.raises(ConversionError, match=r"csv:8: expected 10 columns, got 3"):
        koniq10k.convert(release, tmp_path / "out")
    scores.write_text(text)
    sets = release / "koniq10k_distributions_sets.csv"
    sets.write_text(sets.read_text().replace("validation", "holdout"))
    with pytest.raises(ConversionError, match=r"sets\.csv:5: unknown set 'holdout'"):
        koniq10k.convert(release, tmp_path / "out")
