# coding=utf-8
# Copyright 2026 The liqe authors.
"""LIQE's image-quality metrics as a Hugging Face `evaluate` module (a thin wrapper, no maths of its own).

Load it by its path, offline: `evaluate.load("metrics/liqe_iqa")` (or the absolute path). The numbers come from
`modeling_liqe.metrics.iqa_metrics`, the one implementation training, `liqe eval` and the tests share: SRCC
and KRCC on the raw predictions, PLCC and RMSE after the 4-parameter logistic fit.
"""

import datasets
import evaluate

from modeling_liqe.metrics import iqa_metrics

_CITATION = """\
@inproceedings{zhang2023liqe,
  title={Blind Image Quality Assessment via Vision-Language Correspondence: A Multitask Learning Perspective},
  author={Zhang, Weixia and Zhai, Guangtao and Wei, Ying and Yang, Xiaokang and Ma, Kede},
  booktitle={IEEE Conference on Computer Vision and Pattern Recognition},
  year={2023}
}
"""

_DESCRIPTION = """\
Blind image quality assessment metrics as the LIQE authors evaluate: Spearman (SRCC) and Kendall tau-b (KRCC)
rank correlations between predicted scores and mean opinion scores, and the Pearson correlation (PLCC) and root
mean square error (RMSE) after a monotone 4-parameter logistic y = b2 + (b1 - b2) / (1 + exp(-(x - b3) / |b4|))
fitted from the predictions to the opinion scores. A constant prediction gets correlations of 0.0 and
`constant_predictions: True` instead of NaN.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `float`): predicted quality scores.
    references (`list` of `float`): mean opinion scores (higher is better).
Returns:
    srcc, plcc, krcc, rmse (`float`), num_images (`int`), constant_predictions (`bool`),
    logistic_params (`list` of 4 `float`: b1, b2, b3, b4).
Examples:
    >>> metric = evaluate.load("metrics/liqe_iqa")
    >>> metric.compute(predictions=[1.0, 2.0, 3.5, 3.0], references=[1.2, 2.2, 4.0, 3.9])["srcc"]
    0.8
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class LiqeIqa(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}),
            reference_urls=["https://github.com/zwx8981/LIQE"],
        )

    def _compute(self, predictions, references):
        return iqa_metrics(predictions, references)
