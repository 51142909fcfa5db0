"""An honest "unknown": scores of how in-distribution an image looks, a rejection threshold chosen on
the validation split, and how well the score separates the test images from images of something else.

Every score is higher for images more like the training classes:

- ``confidence``: the calibrated top-1 probability, ``max softmax(logits / T)``;
- ``max_logit``: the largest logit (Hendrycks et al. 2022);
- ``energy``: the negative free energy ``T * logsumexp(logits / T)`` (Liu et al. 2020).

The threshold is the score that accepts ``acceptance`` (default 95 %) of the validation images; an
image scoring below it is answered ``unknown``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torchmetrics.functional.classification import binary_auroc

from fgclass.data.datamodule import ImageClassificationDataModule
from fgclass.data.inputs import PredictDataset, find_inputs
from fgclass.errors import ConfigError
from fgclass.outputs import Outputs, confidence, log_partition, reduce_logits, select
from fgclass.text import listing

log = logging.getLogger(__name__)

SCORES = ("confidence", "max_logit", "energy")
DEFAULT_SCORE = "max_logit"  # the best mean AUROC on fish and noise images (docs/results.md)


def logit_score(
    logits: torch.Tensor, kind: str = DEFAULT_SCORE, temperature: float | None = None
) -> torch.Tensor:
    """:func:`ood_score` from the full logits ``(N, C)``: what an exported model computes in its
    graph (``tests/test_ood.py`` checks that the two agree)."""
    scaled = logits.float() / (temperature or 1.0)
    if kind == "confidence":
        return scaled.softmax(1).max(1).values
    if kind == "max_logit":
        return logits.float().max(1).values
    if kind == "energy":
        return (temperature or 1.0) * torch.logsumexp(scaled, 1)
    raise ValueError(f"unknown OOD score '{kind}': use one of {', '.join(SCORES)}")


def ood_score(outputs: Outputs, kind: str = DEFAULT_SCORE, temperature: float | None = None) -> torch.Tensor:
    """The score ``kind`` of each image of ``outputs`` (higher: more in-distribution)."""
    if kind == "confidence":
        return confidence(outputs, temperature)
    if kind == "max_logit":
        return outputs.logits[:, 0]
    if kind == "energy":
        return (temperature or 1.0) * log_partition(outputs, temperature)
    raise ValueError(f"unknown OOD score '{kind}': use one of {', '.join(SCORES)}")


def acceptance_threshold(scores: torch.Tensor, acceptance: float) -> float:
    """The score at or above which a share ``acceptance`` of ``scores`` lies (their lower quantile)."""
    return float(torch.quantile(scores.float(), 1 - acceptance))


def separation(inside: torch.Tensor, outside: torch.Tensor, threshold: float) -> dict[str, float]:
    """How well scores tell in-distribution (``inside``) from other images (``outside``): AUROC,
    the share of outside images accepted when 95 % of inside ones are (FPR at 95 % TPR), and the
    shares of each rejected at ``threshold``."""
    scores = torch.cat([inside, outside]).float()
    labels = torch.cat([torch.ones(len(inside)), torch.zeros(len(outside))]).long()
    at_95 = acceptance_threshold(inside, 0.95)
    return {
        "auroc": float(binary_auroc(scores, labels)),
        "fpr_at_95_tpr": float((outside >= at_95).float().mean()),
        "rejected": float((outside < threshold).float().mean()),
        "inside_rejected": float((inside < threshold).float().mean()),
    }


def rejection_rule(outputs: Outputs, options: Mapping[str, Any], temperature: float | None) -> dict[str, Any]:
    """The rule stored with the model: ``options["score"]`` and the threshold that accepts
    ``options["acceptance"]`` of the validation images whose ``outputs`` are given."""
    kind, acceptance = options.get("score", DEFAULT_SCORE), float(options.get("acceptance", 0.95))
    if kind not in SCORES:
        raise ConfigError(f"eval.rejection.score={kind}: use one of {', '.join(SCORES)}.")
    if not 0 < acceptance <= 1:
        raise ConfigError(
            f"eval.rejection.acceptance={acceptance}: use the share of val images to accept, in (0, 1]."
        )
    threshold = acceptance_threshold(ood_score(outputs, kind, temperature), acceptance)
    return {"score": kind, "threshold": threshold, "acceptance": acceptance, "temperature": temperature}


def other_images_report(
    trainer: L.Trainer,
    model: L.LightningModule,
    datamodule: ImageClassificationDataModule,
    root: str | Path,
    tested: Outputs,
    rule: Mapping[str, Any],
) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Score the images under ``root`` (none of the model's classes) against the test images:
    per score, AUROC and FPR at 95 % TPR; for the stored rule, the shares rejected. Unreadable files
    are listed and left out. Returns the summary and the rule's scores of both sets (for a figure)."""
    files = find_inputs(root, "eval.ood_root")
    dataset = PredictDataset(files, datamodule.eval_pipeline, datamodule.image_size)
    batches = trainer.predict(model, dataloaders=datamodule.eval_loader(dataset))
    outputs = reduce_logits(torch.cat([b[0] for b in batches]))
    problems = [problem for b in batches for problem in b[2]]
    readable = torch.tensor([not problem for problem in problems])
    if not readable.any():
        raise ConfigError(f"eval.ood_root: none of the {len(files)} files under '{root}' could be read.")
    if not readable.all():
        skipped = [f"{files[i]}: {problem}" for i, problem in enumerate(problems) if problem]
        log.warning("eval.ood_root: %d files left out:\n%s", len(skipped), listing(skipped))
    outputs = select(outputs, readable)
    temperature = rule.get("temperature")
    summary: dict[str, float] = {"ood_images": int(readable.sum())}
    for kind in SCORES:
        inside, outside = ood_score(tested, kind, temperature), ood_score(outputs, kind, temperature)
        found = separation(inside, outside, rule["threshold"] if kind == rule["score"] else float("nan"))
        summary[f"ood_auroc_{kind}"] = found["auroc"]
        summary[f"ood_fpr_at_95_tpr_{kind}"] = found["fpr_at_95_tpr"]
        if kind == rule["score"]:
            summary.update(ood_auroc=found["auroc"], ood_fpr_at_95_tpr=found["fpr_at_95_tpr"])
            summary.update(ood_rejected=found["rejected"], test_rejected=found["inside_rejected"])
            shown = {"test images": inside, f"{Path(root).name} images": outside}
    return summary, shown
