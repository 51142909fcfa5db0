"""10,000 classes: test reports in bounded memory and readable figures; long-tail sampling and loss
(issue 29, part 3)."""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig
from PIL import Image
from scipy.stats import chisquare

from fgclass.data.sampling import ClassSampler, SeededSampler, check_sampling, training_sampler
from fgclass.errors import ConfigError
from fgclass.evaluation.evaluate import evaluate, write_figures, write_reports
from fgclass.evaluation.result_files import top_confusions
from fgclass.metrics import REPORT, CountedScore, classification_metrics, compute_results
from fgclass.models.loading import load_classifier
from fgclass.models.losses import ReweightedCrossEntropy, class_weights
from fgclass.outputs import reduce_logits
from fgclass.train import train

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")  # writing "5" resets the peak resident size (Linux >= 4.0)


def _status_mb(field: str) -> float:
    line = next(x for x in STATUS.read_text().splitlines() if x.startswith(f"{field}:"))
    return int(line.split()[1]) / 1024


def generated_outputs(num_classes: int, num_samples: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Logits and targets of a model right 60 % of the time, with planted frequent confusions
    (3 -> 4 thirty times, 9999 -> 0 twenty times, 12 -> 4 twenty times: a tie broken by class)."""
    gen = torch.Generator().manual_seed(seed)
    targets = torch.randint(0, num_classes, (num_samples,), generator=gen)
    preds = torch.where(
        torch.rand(num_samples, generator=gen) < 0.6,
        targets,
        torch.randint(0, num_classes, (num_samples,), generator=gen),
    )
    planted = [(3, 4)] * 30 + [(num_classes - 1, 0)] * 20 + [(12, 4)] * 20
    targets[: len(planted)] = torch.tensor([t for t, _ in planted])
    preds[: len(planted)] = torch.tensor([p for _, p in planted])
    logits = torch.randn(num_samples, num_classes, generator=gen)
    logits[torch.arange(num_samples), preds] += 6.0
    return logits, targets, torch.arange(num_samples)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


@pytest.mark.skipif(not CLEAR_REFS.exists(), reason="peak memory is read from Linux's /proc")
def test_ten_thousand_classes_report_in_bounded_memory(tmp_path: Path) -> None:
    num_classes, num_samples = 10_000, 2_000
    logits, targets, index = generated_outputs(num_classes, num_samples)
    names = [f"species {i:05d}" for i in range(num_classes)]
    trainer = L.Trainer(
        logger=TensorBoardLogger(tmp_path / "tb"), accelerator="cpu", enable_progress_bar=False
    )
    before = _status_mb("VmRSS")
    CLEAR_REFS.write_text("5")
    results = compute_results(reduce_logits(logits, targets, index))
    out = tmp_path / "report"
    paths = [f"img{i}.jpg" for i in range(num_samples)]
    write_reports(trainer, out, names, paths, results, results.summary, 5, 1000, 100, 1.5)
    write_figures(trainer, out, names, results, [], None, 100, 1.5)
    peak = _status_mb("VmHWM") - before
    # one dense 10,000 x 10,000 count matrix is 800 MB; the logits 80 MB, their softmax as much again
    assert peak < 450, f"evaluation took {peak:.0f} MB above the {before:.0f} MB before it"

    assert results.confusion.is_sparse
    by_hand = Counter(
        (t, p) for t, p in zip(targets.tolist(), logits.argmax(1).tolist()) if t != p
    ).most_common()
    by_hand.sort(key=lambda item: (-item[1], item[0]))  # ties in (true, predicted) order
    rows = read_rows(out / "confusions.csv")
    assert len(rows) == min(1000, len(by_hand))
    assert [(r["true_label"], r["predicted_label"], int(r["count"])) for r in rows[:3]] == [
        ("species 00003", "species 00004", 30),
        ("species 00012", "species 00004", 20),
        ("species 09999", "species 00000", 20),
    ]
    assert [
        (names.index(r["true_label"]), names.index(r["predicted_label"]), int(r["count"])) for r in rows
    ] == [(t, p, n) for (t, p), n in by_hand[:1000]]
    support = Counter(targets.tolist())
    assert float(rows[0]["share_of_true"]) == pytest.approx(30 / support[3], abs=1e-6)

    report = read_rows(out / "classification_report.csv")
    assert len(report) == num_classes + 3
    assert float(report[-2]["f1"]) == pytest.approx(results.summary["f1_macro"], abs=1e-6)
    assert sum(int(r["support"]) for r in report[:num_classes]) == num_samples
    assert len(read_rows(out / "predictions.csv")) == num_samples
    assert not (out / "confusion_matrix.csv").exists() and not (out / "confusion_matrix.png").exists()
    for png in ("confusions.png", "per_class_f1.png", "reliability.png"):
        width, height = Image.open(out / png).size
        assert width <= 1200 and height <= 1200, (png, width, height)
        assert 10_000 < (out / png).stat().st_size < 400_000, png
    events = sum(f.stat().st_size for f in (tmp_path / "tb").rglob("events.*"))
    assert events < 1_000_000  # three bounded images and the report's averages, not 10,000 rows


def test_counted_scores_equal_torchmetrics() -> None:
    # 40 classes, 30 of them present: absent classes weigh nothing in the macro average either way
    gen = torch.Generator().manual_seed(1)
    logits, targets = torch.randn(300, 40, generator=gen), torch.randint(0, 30, (300,), generator=gen)
    logits[torch.arange(150), targets[:150]] += 3
    for name in REPORT:
        kind, _, average = name.partition("_")
        if kind not in ("precision", "recall", "f1"):
            continue
        counted = CountedScore(40, kind, "none" if average == "per_class" else average)
        expected = classification_metrics(40, (name,))(logits, targets)[name]
        for part in (slice(0, 100), slice(100, 300)):  # accumulated over updates, as in an epoch
            counted.update(logits[part], targets[part])
        torch.testing.assert_close(counted.compute(), expected, atol=1e-6, rtol=0)
    # and the memory is in classes: three counts of 20,000 where torchmetrics bins 20,000 squared
    many = CountedScore(20_000, "f1", "macro")
    many.update(torch.randint(0, 20_000, (64,)), torch.randint(0, 20_000, (64,)))
    assert sum(t.numel() for t in many.metric_state.values()) == 3 * 20_000


def test_sparse_report_equals_the_dense_one() -> None:
    gen = torch.Generator().manual_seed(1)
    logits, targets = torch.randn(300, 40, generator=gen), torch.randint(0, 30, (300,), generator=gen)
    logits[torch.arange(150), targets[:150]] += 3
    dense = compute_results(reduce_logits(logits, targets), dense=True)
    sparse = compute_results(reduce_logits(logits, targets), dense=False)
    assert sparse.summary == dense.summary
    for field in ("precision", "recall", "f1", "support"):
        assert torch.equal(getattr(sparse.per_class, field), getattr(dense.per_class, field)), field
    assert torch.equal(sparse.confusion.to_dense(), dense.confusion)
    assert top_confusions(sparse.confusion, 50) == top_confusions(dense.confusion, 50)


def test_matrix_threshold_above_the_dense_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"eval\.matrix_max_classes=5000"):
        evaluate(None, None, None, tmp_path, matrix_max_classes=5000)  # type: ignore[arg-type]


# --- long-tailed data: sampling and a re-weighted loss ----------------------------------------------
LONG_TAIL = [400, 100, 25, 1]  # images per class


def class_draws(sampler: ClassSampler | SeededSampler, labels: list[int], epochs: int) -> Counter:
    drawn: Counter = Counter()
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        drawn.update(labels[index] for index, _ in sampler)
    return drawn


@pytest.mark.parametrize(("sampling", "share"), [("sqrt", [20, 10, 5, 1]), ("balanced", [1, 1, 1, 1])])
def test_class_sampling_draws_classes_in_proportion(sampling: str, share: list[int]) -> None:
    labels = [c for c, n in enumerate(LONG_TAIL) for _ in range(n)]
    sampler = training_sampler(_Sized(labels), seed=3, sampling=sampling)
    assert isinstance(sampler, ClassSampler) and len(sampler) == len(labels)
    drawn = class_draws(sampler, labels, epochs=20)  # 20 x 526 draws
    expected = [s / sum(share) * 20 * len(labels) for s in share]
    assert chisquare([drawn[c] for c in range(4)], expected).pvalue > 0.001, (drawn, expected)
    sampler.set_epoch(5)
    first = list(sampler)
    sampler.set_epoch(5)
    assert list(sampler) == first  # a function of (seed, epoch): a resumed run draws the same
    repeated = Counter(index for index, _ in first)
    index = next(i for i, n in repeated.items() if n > 1)
    assert len({seed for i, seed in first if i == index}) == repeated[index]  # each draw its own augmentation


def test_natural_sampling_shows_every_image_once_and_unknown_sampling_is_refused() -> None:
    labels = [c for c, n in enumerate(LONG_TAIL) for _ in range(n)]
    sampler = training_sampler(_Sized(labels), seed=3)
    assert type(sampler) is SeededSampler
    assert sorted(index for index, _ in sampler) == list(range(len(labels)))
    with pytest.raises(ConfigError, match=r"data\.sampling=square.*natural, sqrt, balanced"):
        check_sampling("square")


class _Sized:
    """A dataset's labels, all a sampler reads."""

    def __init__(self, targets: list[int]) -> None:
        self.targets = targets

    def __len__(self) -> int:
        return len(self.targets)


def test_reweighted_loss_equals_a_hand_computation() -> None:
    counts = torch.tensor([1, 10, 100])
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [1.0, -1.0, 0.0], [0.0, 3.0, 1.0]])
    target = torch.tensor([0, 1, 2, 2])
    ce = [
        math.log(sum(math.exp(v) for v in row)) - row[t] for row, t in zip(logits.tolist(), target.tolist())
    ]
    beta = 0.9
    for weighting, raw in (
        ("effective_number", [(1 - beta) / (1 - beta**n) for n in (1, 10, 100)]),
        ("inverse", [1 / 1, 1 / 10, 1 / 100]),
        ("inverse_sqrt", [1, 10**-0.5, 0.1]),
    ):
        weights = [w * 3 / sum(raw) for w in raw]  # averaging 1 over the classes
        loss = ReweightedCrossEntropy(weighting, beta)
        loss.set_class_counts(counts)
        assert loss.class_weights.tolist() == pytest.approx(weights, rel=1e-6)
        by_hand = sum(weights[t] * c for t, c in zip(target.tolist(), ce)) / 4
        assert loss(logits, target).item() == pytest.approx(by_hand, rel=1e-6), weighting
    with pytest.raises(ConfigError, match=r"model\.loss\.weighting=focal"):
        ReweightedCrossEntropy("focal")
    with pytest.raises(ConfigError, match="class counts"):
        ReweightedCrossEntropy()(logits, target)  # no counts given


def test_long_tail_options_train_and_the_weights_travel_with_the_checkpoint(
    train_config: Callable[..., DictConfig], fish_root: Path, tmp_path: Path
) -> None:
    long_tail = ["data.sampling=sqrt", "model/loss=class_balanced", "model.loss.beta=0.9"]
    cfg = train_config(
        f"data.root={fish_root}", *long_tail, "trainer.max_epochs=1", "trainer.limit_train_batches=2"
    )
    metrics = train(cfg)
    assert math.isfinite(metrics["test/loss"])
    run = tmp_path / "run"
    with (run / "splits.csv").open() as handle:
        labels = Counter(r["label"] for r in csv.DictReader(handle) if r["split"] == "train")
    model = load_classifier(run / "checkpoints" / "last.ckpt")  # as fgclass.eval and predict load it
    counts = torch.tensor([labels[name] for name in model.class_names])
    assert torch.allclose(model.criterion.class_weights, class_weights(counts, "effective_number", 0.9))
