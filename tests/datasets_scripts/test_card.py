"""Dataset cards: YAML front matter, warnings by redistribution terms, the release's notice."""

import pytest
import yaml

from datasets_scripts import bid, clive, csiq, kadid10k, koniq10k, live
from datasets_scripts.card import (REDISTRIBUTION_ALLOWED, REDISTRIBUTION_FORBIDDEN, REDISTRIBUTION_UNKNOWN,
                                   REDISTRIBUTION_WITH_NOTICE, CorpusCard, read_notice, render_card)

COUNTS = {"official": {"train": 7, "validation": 1, "test": 2}, "liqe_session_01": {"train": 7, "validation": 0, "test": 3}}


def card(redistribution):
    return CorpusCard(corpus="toy", pretty_name="Toy", homepage="h", description="d", score_description="s",
                      citation="@misc{toy}", terms="t", redistribution=redistribution, notice_file="readme.txt")


def render(redistribution, notice=None):
    return render_card(card(redistribution), num_rows=10, split_counts=COUNTS, default_split="official", notice_text=notice)


@pytest.mark.parametrize(
    "redistribution, notice, warning",
    [
        (REDISTRIBUTION_ALLOWED, None, None),
        (REDISTRIBUTION_WITH_NOTICE, "Copyright X", None),
        (REDISTRIBUTION_WITH_NOTICE, None, "`readme.txt` was not found"),
        (REDISTRIBUTION_UNKNOWN, None, "no licence allowing redistribution was found"),
        (REDISTRIBUTION_FORBIDDEN, None, "do not allow public redistribution"),
    ],
)
def test_warnings(redistribution, notice, warning):
    text = render(redistribution, notice)
    if warning:
        assert "> **Warning**" in text and warning in text
    else:
        assert "Warning" not in text
    if notice:
        assert "```text\nCopyright X\n```" in text


def test_yaml_front_matter_and_split_table():
    text = render(REDISTRIBUTION_ALLOWED)
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["size_categories"] == ["n<1K"]
    default, splits = front["configs"]
    assert default["default"] is True and [f["split"] for f in default["data_files"]] == ["train", "validation", "test"]
    assert [f["path"] for f in splits["data_files"]] == ["splits/liqe_session_01.parquet", "splits/official.parquet"]
    assert "| `liqe_session_01` | 7 | 0 | 3 |" in text and "@inproceedings{zhang2023liqe" in text


def test_read_notice(tmp_path):
    (tmp_path / "README.TXT").write_text("intro\n---COPYRIGHT NOTICE STARTS WITH THIS LINE---\nC\n---COPYRIGHT NOTICE ENDS WITH THIS LINE---\nrest")
    assert read_notice(tmp_path, "readme.txt") == "---COPYRIGHT NOTICE STARTS WITH THIS LINE---\nC\n---COPYRIGHT NOTICE ENDS WITH THIS LINE---"
    (tmp_path / "README.TXT").write_text("plain notice\n")
    assert read_notice(tmp_path, "readme.txt") == "plain notice"
    assert read_notice(tmp_path, "other.txt") is None and read_notice(tmp_path, None) is None


def test_every_corpus_card_is_complete():
    for module in (live, csiq, kadid10k, bid, clive, koniq10k):
        c = module.CARD
        assert c.corpus == module.SPEC.name and c.citation.startswith("@") and c.terms and c.score_description
        assert c.redistribution in (REDISTRIBUTION_WITH_NOTICE, REDISTRIBUTION_UNKNOWN, REDISTRIBUTION_FORBIDDEN)
