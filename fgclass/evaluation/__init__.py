"""Evaluation: metrics, report files, figures, noise robustness, TensorBoard extras."""

from fgclass.evaluation.evaluate import evaluate

__all__ = ["evaluate"]
