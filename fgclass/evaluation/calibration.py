"""Confidence that means what it says: temperature scaling (Guo et al. 2017) and the reliability of
top-1 confidences.

One scalar ``T`` is fitted on the validation split by minimising the negative log-likelihood of
``softmax(logits / T)``; it changes no prediction (the order of the logits stays), only how sure the
model says it is. Calibration is measured by the expected calibration error (ECE: 15 equal-width
bins of top-1 confidence, torchmetrics' binary calibration error of the top-1 class) and the NLL.
Both work on the reduced :class:`~fgclass.outputs.Outputs` of a pass (exact up to
:data:`~fgclass.outputs.KEEP_ALL_UP_TO` classes; above, the tail of small logits is approximated).
"""

from __future__ import annotations

import torch

from fgclass.metrics import ECE_BINS
from fgclass.outputs import Outputs, confidence, nll, predictions


def fit_temperature(outputs: Outputs, max_iter: int = 200) -> float:
    """The temperature ``T > 0`` that minimises the NLL of ``softmax(logits / T)`` of ``outputs``
    (L-BFGS on ``log T``, from ``T = 1``)."""
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = nll(outputs, log_t.exp()).mean()
        loss.backward()
        return loss

    with torch.enable_grad(), torch.inference_mode(False):
        outputs = Outputs(*(field.clone() for field in outputs))  # not the test loop's inference tensors
        optimizer.step(closure)
    return float(log_t.detach().exp())


def reliability_bins(
    outputs: Outputs, temperature: float | None = None, bins: int = ECE_BINS
) -> list[dict[str, float]]:
    """Per equal-width bin of top-1 confidence at ``temperature``: its range, sample count, mean
    confidence and accuracy (the points of a reliability diagram; empty bins are left out)."""
    sure = confidence(outputs, temperature)
    correct = (predictions(outputs) == outputs.targets).float()
    edges = torch.linspace(0, 1, bins + 1)
    index = torch.bucketize(sure, edges[1:-1], right=True)
    rows = []
    for b in range(bins):
        members = index == b
        if members.any():
            rows.append(
                {
                    "lower": float(edges[b]),
                    "upper": float(edges[b + 1]),
                    "count": int(members.sum()),
                    "confidence": float(sure[members].mean()),
                    "accuracy": float(correct[members].mean()),
                }
            )
    return rows
