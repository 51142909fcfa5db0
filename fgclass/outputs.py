"""What an evaluation pass keeps of each image's logits: memory bounded in the number of classes.

A test split of 200,000 images over iNaturalist's 10,000 classes has 8 GB of logits. Every batch is
therefore reduced as it leaves the model to :class:`Outputs`: the largest logits with their classes
(in descending order), five numbers about the others (the *tail*), the target's logit and each
image's loss. Up to :data:`KEEP_ALL_UP_TO` classes every logit is kept (no tail), so everything
computed from the outputs is exact. Above, everything at temperature 1 stays exact (predictions,
probabilities, NLL, ECE, max logit, energy). What depends on another temperature (the temperature's
fit, calibrated probabilities, NLL and ECE, energy and confidence at ``T``) needs the tail's
``f(b) = log sum exp(b z)`` at ``b = 1 / T``; the tail keeps its value and first two derivatives at
``b = 1`` (log-sum-exp, softmax-weighted mean and variance) and its value and slope at ``b = 0``
(log of the count, plain mean). Below ``b = 1``, ``f`` is the cubic through both ends with both
slopes; above, its slope rises from the weighted mean towards the smallest kept logit (no tail logit
is larger) at the rate of the variance. Measured against the full logits of generated 5,000-class
models at ``T`` from 0.2 to 10: ``log`` of the partition function within 0.02
(``tests/test_outputs.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F

KEEP_ALL_UP_TO = 1000  # classes: every logit kept (exact at any temperature)
KEPT = 64  # logits kept per image above that


class Outputs(NamedTuple):
    """One pass over a split (or a batch of it), ``N`` images, ``K`` kept logits each."""

    logits: torch.Tensor  # (N, K) float32, descending
    classes: torch.Tensor  # (N, K) int32, the class of each kept logit
    tail: torch.Tensor  # (N, 5) of the logits not kept: count, mean, f(1), f'(1), f''(1) (all 0: none)
    target_logit: torch.Tensor  # (N,) the true class's logit (nan without targets)
    loss: torch.Tensor  # (N,) the training criterion per image (nan without targets)
    targets: torch.Tensor  # (N,) int64 (-1 without targets)
    index: torch.Tensor  # (N,) int64 dataset row


Temperature = float | torch.Tensor | None  # None: 1 (a tensor while the temperature is fitted)


def _t(temperature: Temperature) -> float | torch.Tensor:
    return 1.0 if temperature is None else temperature


def reduce_logits(
    logits: torch.Tensor,
    targets: torch.Tensor | None = None,
    index: torch.Tensor | None = None,
    loss: torch.Tensor | None = None,
) -> Outputs:
    """``logits`` ``(N, C)`` reduced to :class:`Outputs` on the CPU; ``loss``: the training criterion
    per image (default: the cross-entropy, where ``targets`` are given)."""
    logits = logits.detach().float()
    n, num_classes = logits.shape
    kept = num_classes if num_classes <= KEEP_ALL_UP_TO else KEPT
    values, classes = logits.topk(kept, dim=1)
    tail = torch.zeros(n, 5)
    if kept < num_classes:
        # a few passes over the batch (the test loop runs this on every batch): no tail logit is
        # above the smallest kept one, so exp(z - that) cannot overflow
        shift = values[:, -1:]
        rest = logits.scatter(1, classes, 0.0)  # the logits not kept (0 where kept)
        weights = (rest - shift).exp_().scatter_(1, classes, 0.0)
        total = weights.sum(1, keepdim=True)
        weighted = weights.mul_(rest)
        mean = weighted.sum(1, keepdim=True) / total
        variance = (torch.linalg.vecdot(weighted, rest, dim=1)[:, None] / total - mean**2).clamp(min=0)
        count = torch.full_like(mean, num_classes - kept)
        top = shift + total.log()
        tail = torch.cat([count, rest.sum(1, keepdim=True) / count, top, mean, variance], 1).cpu()
    missing = torch.full((n,), math.nan)
    if targets is None:
        target_logit, targets = missing, torch.full((n,), -1, dtype=torch.long)
    else:
        target_logit = logits.gather(1, targets.long()[:, None]).squeeze(1).cpu()
        loss = F.cross_entropy(logits, targets.long(), reduction="none") if loss is None else loss
    return Outputs(
        values.cpu(),
        classes.int().cpu(),
        tail,
        target_logit,
        missing if loss is None else loss.detach().float().cpu(),
        targets.long().cpu(),
        torch.arange(n) if index is None else index.long().cpu(),
    )


def concatenate(parts: Sequence[Outputs]) -> Outputs:
    """Batches joined into one pass."""
    return Outputs(*(torch.cat(field) for field in zip(*parts)))


def select(outputs: Outputs, rows: torch.Tensor | Sequence[int]) -> Outputs:
    """The images ``rows`` (indices or a boolean mask) of ``outputs``."""
    rows = torch.as_tensor(rows)
    return Outputs(*(field[rows] for field in outputs))


def num_classes(outputs: Outputs) -> int:
    """The number of classes the logits had."""
    return outputs.logits.shape[1] + (int(outputs.tail[0, 0]) if len(outputs.tail) else 0)


def predictions(outputs: Outputs) -> torch.Tensor:
    """The top-1 class of each image (the largest logit)."""
    return outputs.classes[:, 0].long()


def _tail_partition(outputs: Outputs, beta: float | torch.Tensor) -> torch.Tensor:
    """``log sum exp(beta * z)`` over each image's tail (see the module's docstring); -inf without."""
    count, mean, value, slope, curvature = outputs.tail.unbind(1)
    some = count > 0
    log_count = torch.log(count.clamp(min=1))
    b = torch.as_tensor(beta).clamp(max=1)  # below 1: the cubic through (0, log count) and (1, f(1))
    below = (
        (2 * b**3 - 3 * b**2 + 1) * log_count
        + (b**3 - 2 * b**2 + b) * mean
        + (3 * b**2 - 2 * b**3) * value
        + (b**3 - b**2) * slope
    )
    smallest = outputs.logits[:, -1]
    scale = ((smallest - slope) / curvature.clamp(min=1e-12)).clamp(min=1e-12)
    step = (torch.as_tensor(beta) - 1).clamp(min=0)  # above 1: the slope saturates at `smallest`
    above = value + smallest * step + (smallest - slope) * scale * torch.expm1(-step / scale)
    tail = torch.where(torch.as_tensor(beta) <= 1, below, above)
    return torch.where(some, tail, -math.inf)  # (finite in both branches: a fit's gradient through
    # torch.where would turn an infinite unused branch into nan)


def log_partition(outputs: Outputs, temperature: Temperature = None) -> torch.Tensor:
    """``logsumexp(logits / T)`` per image (exact at ``T = 1`` or with no tail)."""
    t = _t(temperature)
    tail = _tail_partition(outputs, 1 / t)
    return torch.logsumexp(torch.cat([outputs.logits / t, tail[:, None]], dim=1), dim=1)


def probabilities(outputs: Outputs, temperature: Temperature = None) -> torch.Tensor:
    """``softmax(logits / T)`` of the kept classes ``(N, K)``, in the order of ``outputs.classes``."""
    return (outputs.logits / _t(temperature) - log_partition(outputs, temperature)[:, None]).exp()


def confidence(outputs: Outputs, temperature: Temperature = None) -> torch.Tensor:
    """The top-1 probability ``max softmax(logits / T)`` of each image."""
    return (outputs.logits[:, 0] / _t(temperature) - log_partition(outputs, temperature)).exp()


def nll(outputs: Outputs, temperature: Temperature = None) -> torch.Tensor:
    """The negative log-likelihood of the true class under ``softmax(logits / T)``, per image."""
    return log_partition(outputs, temperature) - outputs.target_logit / _t(temperature)
