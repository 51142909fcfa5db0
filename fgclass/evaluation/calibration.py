"""Confidence that means what it says: temperature scaling (Guo et al. 2017) and the reliability of
top-1 confidences.

One scalar ``T`` is fitted on the validation split by minimising the negative log-likelihood of
``softmax(logits / T)``; it changes no prediction (the order of the logits stays), only how sure the
model says it is. Calibration is measured by the expected calibration error (ECE: 15 equal-width
bins of top-1 confidence, torchmetrics' ``MulticlassCalibrationError``) and the NLL.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fgclass.metrics import ECE_BINS


def fit_temperature(logits: torch.Tensor, targets: torch.Tensor, max_iter: int = 200) -> float:
    """The temperature ``T > 0`` that minimises the NLL of ``softmax(logits / T)`` on ``targets``
    (L-BFGS on ``log T``, from ``T = 1``)."""
    logits, targets = logits.detach().float(), targets.detach()
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), targets)
        loss.backward()
        return loss

    with torch.enable_grad(), torch.inference_mode(False):
        optimizer.step(closure)
    return float(log_t.detach().exp())


def reliability_bins(
    logits: torch.Tensor, targets: torch.Tensor, bins: int = ECE_BINS
) -> list[dict[str, float]]:
    """Per equal-width bin of top-1 confidence: its range, sample count, mean confidence and accuracy
    (the points of a reliability diagram; empty bins are left out)."""
    confidence, predicted = logits.float().softmax(1).max(1)
    correct = (predicted == targets).float()
    edges = torch.linspace(0, 1, bins + 1)
    index = torch.bucketize(confidence, edges[1:-1], right=True)
    rows = []
    for b in range(bins):
        members = index == b
        if members.any():
            rows.append(
                {
                    "lower": float(edges[b]),
                    "upper": float(edges[b + 1]),
                    "count": int(members.sum()),
                    "confidence": float(confidence[members].mean()),
                    "accuracy": float(correct[members].mean()),
                }
            )
    return rows
