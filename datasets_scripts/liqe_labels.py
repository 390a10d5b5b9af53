"""Read the LIQE authors' label and split files (the ``IQA_Database`` folder of the LIQE release).

Layout, per corpus: ``IQA_Database/<folder>/splits2/<s>/<prefix>_{train,val,test}_clip.txt`` for
sessions s = 1..10. Each line of a ``_clip`` file holds six tab-separated columns::

    relative/path.ext  mos  fine-distortion  scene1  scene2|invalid  scene3|invalid

The path is relative to the corpus root (``jp2k/img39.bmp``, ``1024x768/1814122396.jpg``); it is the
``image_id`` of the converted rows. The mos is on the corpus's own scale after LIQE's direction rules
(higher is better). The labels are the authors' own hand annotations, not part of any official release.

Only the facts of the files are checked here (columns, vocabularies, splits disjoint, one label per
image across sessions); matching them against an official release is the converter's job.
"""

from dataclasses import dataclass, field
from pathlib import Path

from modeling_liqe.configuration_liqe import SCENES

from .schema import FINE_DISTORTIONS

LIQE_SPLIT_FILES = {"train": "train", "validation": "val", "test": "test"}  # our split name -> file infix
NO_SCENE = "invalid"


class LiqeLabelError(ValueError):
    """A LIQE label/split file is missing or malformed (the message names the file and line)."""


@dataclass(frozen=True)
class LiqeLabel:
    image_id: str
    mos: float
    distortion_fine: str
    scenes: tuple  # 1 to 3 scene names, in the file's order


@dataclass
class LiqeLabels:
    """Labels of one corpus plus its sessions (session number -> {image_id: split})."""

    prefix: str
    splits_dir: Path
    labels: dict = field(default_factory=dict)
    sessions: dict = field(default_factory=dict)


def parse_liqe_line(line, where):
    """One 6-column line -> LiqeLabel; ``where`` ("file:line") prefixes any error."""
    columns = line.rstrip("\r\n").split("\t")
    if len(columns) != 6:
        raise LiqeLabelError(f"{where}: expected 6 tab-separated columns, got {len(columns)}: {line.rstrip()!r}")
    image_id, mos_text, fine, *scene_columns = columns
    if not image_id:
        raise LiqeLabelError(f"{where}: empty image path")
    try:
        mos = float(mos_text)
    except ValueError:
        raise LiqeLabelError(f"{where}: mos {mos_text!r} is not a number") from None
    if fine not in FINE_DISTORTIONS:
        raise LiqeLabelError(f"{where}: unknown distortion label {fine!r}")
    if scene_columns[0] not in SCENES:
        raise LiqeLabelError(f"{where}: first scene {scene_columns[0]!r} is not one of {SCENES}")
    scenes = []
    for scene in scene_columns:
        if scene == NO_SCENE:
            continue
        if scene not in SCENES:
            raise LiqeLabelError(f"{where}: unknown scene {scene!r}")
        scenes.append(scene)
    return LiqeLabel(image_id, mos, fine, tuple(scenes))


def read_liqe_list(path):
    """All labels of one ``*_clip.txt`` file, in file order; duplicate paths are an error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise LiqeLabelError(f"{path}: cannot read LIQE list ({error})") from None
    labels, seen = [], set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        label = parse_liqe_line(line, f"{path}:{number}")
        if label.image_id in seen:
            raise LiqeLabelError(f"{path}:{number}: {label.image_id} is listed twice")
        seen.add(label.image_id)
        labels.append(label)
    return labels


def find_splits_dir(labels_dir, folder):
    """The ``splits2`` folder of one corpus, given the ``IQA_Database`` folder (or the corpus's own)."""
    labels_dir = Path(labels_dir)
    for candidate in (labels_dir / folder / "splits2", labels_dir / "splits2", labels_dir):
        if candidate.is_dir() and any(child.name.isdigit() for child in candidate.iterdir()):
            return candidate
    raise LiqeLabelError(
        f"{labels_dir}: no LIQE split folder for this corpus; expected {labels_dir / folder / 'splits2'}/<1..10>/"
    )


def load_liqe_labels(labels_dir, folder, prefix):
    """Labels and sessions of one corpus from the authors' ``IQA_Database`` folder.

    ``folder`` is the corpus's folder name there (``databaserelease2``, ``koniq-10k``, ...) and
    ``prefix`` its file prefix (``live``, ``koniq10k``, ...). Errors name the file and line.
    """
    splits_dir = find_splits_dir(labels_dir, folder)
    session_dirs = sorted((d for d in splits_dir.iterdir() if d.is_dir() and d.name.isdigit()), key=lambda d: int(d.name))
    result = LiqeLabels(prefix=prefix, splits_dir=splits_dir)
    first_union = None
    for session_dir in session_dirs:
        session = int(session_dir.name)
        assignment = {}
        for split, infix in LIQE_SPLIT_FILES.items():
            list_path = session_dir / f"{prefix}_{infix}_clip.txt"
            if not list_path.is_file():
                raise LiqeLabelError(f"{list_path}: missing LIQE list for session {session}")
            for label in read_liqe_list(list_path):
                if label.image_id in assignment:
                    raise LiqeLabelError(
                        f"{list_path}: {label.image_id} is also in the {assignment[label.image_id]} list of session {session}"
                    )
                assignment[label.image_id] = split
                known = result.labels.setdefault(label.image_id, label)
                if known != label:
                    raise LiqeLabelError(f"{list_path}: {label.image_id} carries {label}, another session says {known}")
        union = set(assignment)
        if first_union is None:
            first_union = union
        elif union != first_union:
            raise LiqeLabelError(
                f"{session_dir}: session {session} names {len(union - first_union)} images that session "
                f"{session_dirs[0].name} does not and lacks {len(first_union - union)} that it has"
            )
        result.sessions[session] = assignment
    if not result.sessions:
        raise LiqeLabelError(f"{splits_dir}: no numbered session folders")
    return result
