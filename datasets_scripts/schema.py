"""The one schema every converted corpus shares (and the label vocabularies it uses)."""

import datasets

from modeling_liqe.configuration_liqe import DISTORTION_CLASSES, FINE_DISTORTION_TO_CLASS, SCENES

FINE_DISTORTIONS = list(FINE_DISTORTION_TO_CLASS)

FEATURES = datasets.Features(
    {
        "image": datasets.Image(),
        # Higher is better, on the corpus's own scale after the spec's direction rules.
        "mos": datasets.Value("float32"),
        "mos_std": datasets.Value("float32"),  # None where the corpus has no spread
        "mos_raw": datasets.Value("float32"),  # the published number, before any flip
        "corpus": datasets.Value("string"),
        "image_id": datasets.Value("string"),  # path relative to the corpus root, as the LIQE lists write it
        "reference_id": datasets.Value("string"),  # synthetic corpora: the pristine image; else None
        "distortion_fine": datasets.Value("string"),  # one of FINE_DISTORTIONS (or None when unknown)
        "distortion": datasets.ClassLabel(names=DISTORTION_CLASSES),  # -1 when unknown
        "distortion_level": datasets.Value("int8"),  # 1 = mildest; None where unknown
        "scenes": datasets.Sequence(datasets.ClassLabel(names=SCENES)),
    }
)


def distortion_class_id(fine_label):
    """Class id (0..10) of a fine distortion label, -1 for None; a clear error for an unknown label."""
    if fine_label is None:
        return -1
    try:
        return DISTORTION_CLASSES.index(FINE_DISTORTION_TO_CLASS[fine_label])
    except KeyError:
        raise ValueError(f"unknown fine distortion label {fine_label!r}; expected one of {FINE_DISTORTIONS}") from None
