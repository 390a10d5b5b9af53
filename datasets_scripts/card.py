"""Dataset cards (README.md with YAML front matter) for converted corpora.

The YAML holds what the Hub and ``datasets.load_dataset(folder)`` read: the licence, and two
configurations, ``default`` (the rows, partitioned by the default split) and ``splits`` (the light
split tables, one split per scheme). The body states the score scale and direction, the splits,
the conversion notes, the terms of use (with the release's own notice where it ships one, and a
warning where they do not allow public redistribution) and the citations.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .splits import DATA_DIR, SPLITS, SPLITS_DIR

# How far the terms of use let a converted copy be published.
REDISTRIBUTION_ALLOWED = "allowed"  # e.g. MIT
REDISTRIBUTION_WITH_NOTICE = "allowed_with_notice"  # allowed if the full copyright notice travels with it
REDISTRIBUTION_UNKNOWN = "unknown"  # no licence found: ask the authors first
REDISTRIBUTION_FORBIDDEN = "forbidden"

LIQE_CITATION = """@inproceedings{zhang2023liqe,
  title     = {Blind Image Quality Assessment via Vision-Language Correspondence: A Multitask Learning Perspective},
  author    = {Zhang, Weixia and Zhai, Guangtao and Wei, Ying and Yang, Xiaokang and Ma, Kede},
  booktitle = {IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages     = {14071--14081},
  year      = {2023}
}"""


@dataclass
class CorpusCard:
    """What a card says about one corpus; the counts and notes of a conversion are added at render time."""

    corpus: str  # short id, as in the ``corpus`` column
    pretty_name: str
    homepage: str
    description: str
    score_description: str  # scale, direction, and how ``mos`` was derived from ``mos_raw``
    citation: str  # BibTeX of the corpus
    terms: str  # what the terms of use say, in our words, with their source
    redistribution: str = REDISTRIBUTION_UNKNOWN
    license: str = "unknown"  # Hub licence id ("other", "mit", "unknown")
    license_name: str = None  # for license "other"
    license_link: str = None
    notice_file: str = None  # file of the release holding the copyright notice to copy in full
    notes: list = field(default_factory=list)  # permanent facts about this conversion


def read_notice(root, notice_file):
    """The copyright notice of a release: the marked block of ``notice_file`` if present, else its text."""
    if not notice_file:
        return None
    candidates = [p for p in Path(root).iterdir() if p.name.lower() == notice_file.lower()] if Path(root).is_dir() else []
    if not candidates:
        return None
    text = candidates[0].read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")
    marked = re.search(r"-+\s*COPYRIGHT NOTICE STARTS.*?COPYRIGHT NOTICE ENDS[^\n]*", text, flags=re.S)
    return (marked.group(0) if marked else text).strip()


def _size_category(num_rows):
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if num_rows < limit:
            return name
    return "n>1M"


def card_yaml(card, num_rows, split_counts, default_split):
    """The YAML front matter as a dict (kept separate so tests can read it back)."""
    stored = [split for split in SPLITS if split_counts[default_split].get(split)]
    header = {
        "pretty_name": card.pretty_name,
        "license": card.license,
    }
    if card.license_name:
        header["license_name"] = card.license_name
    if card.license_link:
        header["license_link"] = card.license_link
    header.update(
        {
            "tags": ["image-quality-assessment", "liqe", card.corpus],
            "size_categories": [_size_category(num_rows)],
            "configs": [
                {
                    "config_name": "default",
                    "default": True,
                    "data_files": [{"split": split, "path": f"{DATA_DIR}/{split}-*.parquet"} for split in stored],
                },
                {
                    "config_name": "splits",
                    "data_files": [{"split": name, "path": f"{SPLITS_DIR}/{name}.parquet"} for name in sorted(split_counts)],
                },
            ],
        }
    )
    return header


def render_card(card, *, num_rows, split_counts, default_split, notes=(), notice_text=None):
    """README.md text. ``split_counts``: {scheme: {split: rows}}; ``notes``: this conversion's reports."""
    front = yaml.safe_dump(card_yaml(card, num_rows, split_counts, default_split), sort_keys=False, allow_unicode=True)
    lines = [f"---\n{front}---", f"# {card.pretty_name}", ""]
    warning = _warning(card, notice_text)
    if warning:
        lines += [f"> **Warning**: {warning}", ""]
    lines += [
        card.description,
        "",
        f"- Source: {card.homepage}",
        f"- Converted from the official release by `python -m datasets_scripts.{card.corpus}` (liqe project).",
        f"- Rows: {num_rows}. Images are stored once, as the original file bytes.",
        "",
        "## Scores",
        "",
        card.score_description,
        "",
        "| column | meaning |",
        "|---|---|",
        "| `image` | the image, original file bytes |",
        "| `mos` | quality score, higher is better, on the corpus's own scale |",
        "| `mos_std` | spread of the opinion scores, on the same scale (empty where the corpus has none) |",
        "| `mos_raw` | the score as published, before any flip |",
        "| `corpus` | corpus id |",
        "| `image_id` | path relative to the release's root (the LIQE lists' path) |",
        "| `reference_id` | pristine image of a synthetic corpus, path relative to the root |",
        "| `distortion_fine` | fine distortion label (one of LIQE's 33) |",
        "| `distortion` | distortion class (one of LIQE's 11), -1 when unknown |",
        "| `distortion_level` | distortion level, 1 = mildest, where the release gives one |",
        "| `scenes` | LIQE's scene labels (1 to 3 of 9), empty without the LIQE lists |",
        "",
        "## Splits",
        "",
        f"The data files are partitioned by `{default_split}`. Each split scheme is also a light table of row ids",
        f"under `{SPLITS_DIR}/` (configuration `splits`); a scheme selects rows of the one stored copy.",
        "",
        "| scheme | train | validation | test |",
        "|---|---|---|---|",
    ]
    for name in sorted(split_counts):
        counts = split_counts[name]
        lines.append(f"| `{name}` | " + " | ".join(str(counts.get(split, 0)) for split in SPLITS) + " |")
    lines += [
        "",
        "```python",
        "from datasets_scripts.splits import load_session",
        "",
        "session = load_session(path, 3)  # LIQE session 3 as a DatasetDict; load_session(path) = the data files' split",
        "```",
        "",
        "`liqe_session_NN` are the 10 sessions of the LIQE authors (Zhang et al., CVPR 2023); `official` is the",
        "corpus's own split; `seeded` is a seeded random 70/10/20 split (grouped by reference image for synthetic",
        "corpora). The scene labels, and the distortion labels of authentic corpora, come from the LIQE authors'",
        "hand-made lists, not from the official release.",
        "",
    ]
    all_notes = list(card.notes) + list(notes)
    if all_notes:
        lines += ["## Conversion notes", ""] + [f"- {note}" for note in all_notes] + [""]
    lines += ["## Terms of use", "", card.terms, ""]
    if notice_text:
        lines += ["The release's copyright notice, in full:", "", "```text", notice_text, "```", ""]
    lines += ["## Citation", "", "```bibtex", card.citation.strip(), "", LIQE_CITATION, "```", ""]
    return "\n".join(lines)


def _warning(card, notice_text):
    if card.redistribution == REDISTRIBUTION_FORBIDDEN:
        return (
            "the terms of this corpus do not allow public redistribution of the images. Keep this dataset "
            "private (or local) unless you hold the rights holders' permission."
        )
    if card.redistribution == REDISTRIBUTION_UNKNOWN:
        return (
            "no licence allowing redistribution was found for this corpus. Do not publish this dataset "
            "publicly without the authors' permission; keep it private or local."
        )
    if card.redistribution == REDISTRIBUTION_WITH_NOTICE and not notice_text:
        return (
            f"the terms allow redistribution only with the full copyright notice, and the release's "
            f"`{card.notice_file}` was not found: add the notice before publishing this dataset."
        )
    return None
