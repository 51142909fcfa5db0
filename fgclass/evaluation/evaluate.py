"""Everything a finished run reports about its test split, written into one folder.

Used after training (``fgclass.train``) and for re-evaluating a checkpoint (``fgclass.eval``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
from matplotlib.figure import Figure
from torch.utils.data import Subset

from fgclass.data.datamodule import ImageClassificationDataModule
from fgclass.errors import ConfigError
from fgclass.evaluation import plots, result_files
from fgclass.evaluation.calibration import fit_temperature, reliability_bins
from fgclass.evaluation.gradcam import write_gradcam
from fgclass.evaluation.noise import noise_robustness, predict_results
from fgclass.evaluation.ood import ood_score, other_images_report, rejection_rule
from fgclass.evaluation.protocol import evaluation_protocol
from fgclass.evaluation.tensorboard import add_image, add_scalars, add_text, read_history
from fgclass.metrics import ACCURACY, DENSE_MAX_CLASSES, ECE, F1_MACRO, NLL, Results, calibration_error
from fgclass.outputs import nll
from fgclass.run_files import (
    CLASSIFICATION_REPORT,
    CONFUSION_FILE,
    CONFUSIONS_FILE,
    GRADCAM_DIR,
    METRICS_FILE,
    NOISE_FILE,
    PREDICTIONS_FILE,
)

log = logging.getLogger(__name__)


def evaluate(
    trainer: L.Trainer,
    model: L.LightningModule,
    datamodule: ImageClassificationDataModule,
    output_dir: str | Path,
    ckpt_path: str | None = None,
    noise_sigmas: Sequence[float] = (),
    noise_seed: int = 0,
    top_k: int = 5,
    history_dir: str | Path | None = None,
    timings: Mapping[str, float] | None = None,
    gradcam: Mapping[str, Any] | None = None,
    tta: bool = False,
    figures: bool = True,
    protocol: Mapping[str, Any] | None = None,
    calibration: str | None = "temperature",
    rejection: Mapping[str, Any] | None = None,
    ood_root: str | None = None,
    matrix_max_classes: int = 100,
    top_confusions: int = 1000,
) -> dict[str, float]:
    """Test ``model`` (weights from ``ckpt_path`` if given) and write every report into ``output_dir``.

    Call it on every rank: the metrics cover the whole test split (gathered from every rank, each image
    once) and are returned everywhere; the files are written by global rank zero only. Files:
    metrics.json, classification_report.csv/.md, confusions.csv (the ``top_confusions`` most frequent
    mistakes), confusion_matrix.csv/.png, predictions.csv, noise_robustness.csv/.png (when
    ``noise_sigmas``), curves.png (from the scalars logged in ``history_dir``), per_class_f1.png. Above
    ``matrix_max_classes`` classes (at most :data:`~fgclass.metrics.DENSE_MAX_CLASSES`) no matrix is
    written or drawn: confusions.png shows the most frequent confusions, per_class_f1.png a histogram
    instead of a bar per class, and TensorBoard gets the report's averages only (the memory of it all
    grows with images + classes: :func:`write_reports`). Figures also go to TensorBoard;
    ``figures=False`` leaves them out and keeps the numbers. ``timings`` (e.g. ``fit_minutes``) join the
    summary, with the evaluation's own ``eval_minutes``. ``metrics.json`` also says how the numbers were
    made (:func:`~fgclass.evaluation.protocol.evaluation_protocol`; ``protocol``: fields only the caller
    knows, such as the training seed). ``calibration="temperature"`` fits a temperature on the
    validation split (:mod:`~fgclass.evaluation.calibration`), stores it in ``model.hparams`` (the
    caller saves it with the checkpoint), reports ECE and NLL before and after it, and shows calibrated
    probabilities in predictions.csv; ``None`` leaves the model uncalibrated. ``rejection`` (``score``,
    ``acceptance``) sets the "unknown" rule stored in ``model.hparams.rejection``
    (:mod:`~fgclass.evaluation.ood`); ``ood_root``, a folder of images of none of the classes, is scored
    against the test images (AUROC, FPR at 95 % TPR, share rejected, ood_scores.png).
    Returns the summary, prefixed ``test/``.
    """
    if not 0 <= matrix_max_classes <= DENSE_MAX_CLASSES:
        raise ConfigError(
            f"eval.matrix_max_classes={matrix_max_classes}: use 0 to {DENSE_MAX_CLASSES} (above, the "
            "confusion counts are sparse; confusions.csv lists the most frequent confusions)."
        )
    start = time.perf_counter()
    out = Path(output_dir)
    trainer.test(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True, verbose=False)
    results = model.test_results
    summary = dict(results.summary)
    add_scalars(trainer, {f"test/{k}": v for k, v in summary.items() if k != "num_samples"})
    tested = datamodule.datasets["test"]  # the images, also where the test read cached features
    if len(results.index) < len(tested):  # trainer.limit_test_batches: the same images for TTA and noise
        tested = Subset(tested, results.index.tolist())
    if tta:
        model.tta = True
        flipped = predict_results(trainer, model, datamodule.eval_loader(tested)).summary
        model.tta = False
        summary.update({f"{ACCURACY}_tta": flipped[ACCURACY], f"{F1_MACRO}_tta": flipped[F1_MACRO]})
    if calibration not in ("temperature", None):
        raise ConfigError(f"eval.calibration={calibration}: use temperature, or null (calibration=none).")
    validation = predict_results(trainer, model, datamodule.eval_loader(datamodule.datasets["val"]))
    temperature = None
    if calibration == "temperature":
        temperature = fit_temperature(validation.outputs)
        model.hparams.temperature = temperature  # a checkpoint saved from the model carries it
        summary[f"{ECE}_calibrated"] = calibration_error(results.outputs, temperature)
        summary[f"{NLL}_calibrated"] = float(nll(results.outputs, temperature).mean())
        summary["temperature"] = temperature
    rule = rejection_rule(validation.outputs, rejection or {}, temperature)
    model.hparams.rejection = rule  # stored with the checkpoint like the temperature
    test_scores = ood_score(results.outputs, rule["score"], temperature)
    summary["test_rejected"] = float((test_scores < rule["threshold"]).float().mean())
    ood_scores = None
    if ood_root:
        found, ood_scores = other_images_report(trainer, model, datamodule, ood_root, results.outputs, rule)
        summary.update(found)
    noise = noise_robustness(trainer, model, tested, list(noise_sigmas), noise_seed, datamodule.eval_loader)
    summary.update({f"noise_{row['sigma']:g}/{ACCURACY}": row[ACCURACY] for row in noise})
    summary.update(timings or {}, eval_minutes=(time.perf_counter() - start) / 60)
    if trainer.is_global_zero:
        paths = datamodule.datasets["test"].paths
        names = datamodule.class_names
        tested = [paths[i] for i in results.index.tolist()]
        options = {"matrix_max_classes": matrix_max_classes, "temperature": temperature}
        write_reports(trainer, out, names, tested, results, summary, top_k, top_confusions, **options)
        if noise:
            add_scalars(trainer, {f"test/{k}": v for k, v in summary.items() if k.startswith("noise_")})
            result_files.write_noise_csv(out / NOISE_FILE, noise)
        if figures:
            write_figures(trainer, out, names, results, noise, history_dir, **options)
        if ood_scores is not None and figures:
            figure = plots.score_histogram_figure(ood_scores, rule["threshold"], rule["score"])
            _publish(trainer, "test/ood_scores", figure, out / "ood_scores.png")
        if gradcam and gradcam.get("enabled"):
            _write_gradcam(trainer, out, model, datamodule, results, gradcam)
        described = evaluation_protocol(trainer, model, datamodule, ckpt_path, tta, protocol)
        result_files.write_metrics(out / METRICS_FILE, summary, described)
        log.info(
            "Test accuracy %.4f, macro F1 %.4f; reports in %s", summary[ACCURACY], summary[F1_MACRO], out
        )
    return {f"test/{k}": v for k, v in summary.items()}


def write_reports(
    trainer: L.Trainer,
    out: Path,
    names: Sequence[str],
    paths: Sequence[str],
    results: Results,
    summary: dict[str, float],
    top_k: int,
    top_confusions: int,
    matrix_max_classes: int,
    temperature: float | None,
) -> None:
    """Classification report, confusions (and the matrix up to ``matrix_max_classes`` classes) and
    predictions of the test images ``paths`` (probabilities at ``temperature``); the report (its
    averages only above ``matrix_max_classes``) also to TensorBoard."""
    out.mkdir(parents=True, exist_ok=True)
    per_class = results.per_class
    rows = result_files.classification_rows(per_class, names, summary)
    result_files.write_classification_report(out, rows)
    pairs = result_files.top_confusions(results.confusion, top_confusions)
    result_files.write_confusions_csv(out / CONFUSIONS_FILE, pairs, per_class.support, names)
    if _draws_matrix(names, results, matrix_max_classes):
        result_files.write_confusion_csv(out / CONFUSION_FILE, results.confusion, names)
    result_files.write_predictions(out / PREDICTIONS_FILE, paths, results.outputs, names, top_k, temperature)
    if len(names) <= matrix_max_classes:
        text = (out / f"{CLASSIFICATION_REPORT}.md").read_text()
    else:  # a 10,000-row table is no use in TensorBoard's text tab
        text = result_files.report_markdown(rows[-3:])
        where = f"per-class rows in {CLASSIFICATION_REPORT}.csv, top confusions in {CONFUSIONS_FILE}"
        text += f"\n{len(names):,} classes: {where}.\n"
    add_text(trainer, "test/classification_report", text)


def write_figures(
    trainer: L.Trainer,
    out: Path,
    names: Sequence[str],
    results: Results,
    noise: list[dict[str, float]],
    history_dir: str | Path | None,
    matrix_max_classes: int,
    temperature: float | None,
) -> None:
    """Confusion matrix (over ``matrix_max_classes`` classes: the most frequent confusions), per-class
    F1 (bars; a histogram over many classes), reliability (before and after ``temperature``) and noise
    robustness as PNG files and TensorBoard images, each of a bounded size; the training curves (from
    the scalars logged in ``history_dir``) as a PNG file."""
    f1, support = results.per_class.f1.numpy(), results.per_class.support.numpy()
    if _draws_matrix(names, results, matrix_max_classes):
        confusion = plots.confusion_figure(results.confusion.numpy(), names)
        _publish(trainer, "test/confusion_matrix", confusion, out / "confusion_matrix.png")
        _publish(trainer, "test/per_class_f1", plots.per_class_f1_figure(f1, names), out / "per_class_f1.png")
    else:
        pairs = result_files.top_confusions(results.confusion, 30)
        figure = plots.top_confusions_figure(pairs, names, support)
        _publish(trainer, "test/confusions", figure, out / "confusions.png")
        _publish(
            trainer, "test/per_class_f1", plots.f1_histogram_figure(f1, support), out / "per_class_f1.png"
        )
    curves = {"as trained": reliability_bins(results.outputs)}
    if temperature is not None:
        curves[f"temperature {temperature:.2f}"] = reliability_bins(results.outputs, temperature)
    _publish(trainer, "test/reliability", plots.reliability_figure(curves), out / "reliability.png")
    if noise:
        _publish(trainer, "test/noise_robustness", plots.noise_figure(noise), out / "noise_robustness.png")
    history = read_history(history_dir) if history_dir is not None and Path(history_dir).is_dir() else {}
    if history:
        plots.save(plots.curves_figure(history), out / "curves.png")


def _draws_matrix(names: Sequence[str], results: Results, matrix_max_classes: int) -> bool:
    """Whether the full confusion matrix is written and drawn (few classes, dense counts)."""
    return len(names) <= matrix_max_classes and not results.confusion.is_sparse


def _write_gradcam(
    trainer: L.Trainer,
    out: Path,
    model: L.LightningModule,
    datamodule: ImageClassificationDataModule,
    results: Results,
    options: Mapping[str, Any],
) -> None:
    """``gradcam/`` and its TensorBoard figure; a backbone Grad-CAM cannot explain only warns, since
    the test metrics are already written."""
    try:
        figure = write_gradcam(
            out,
            model,
            datamodule.datasets["test"],
            results,
            datamodule.class_names,
            options.get("num_mistakes", 8),
            options.get("num_correct", 8),
        )
    except ConfigError as exc:
        log.warning("No Grad-CAM: %s (set eval.gradcam.enabled=false to skip it)", exc)
        return
    if figure is not None:
        _publish(trainer, "test/gradcam", figure, out / GRADCAM_DIR / "gradcam.png")


def _publish(trainer: L.Trainer, tag: str, figure: Figure, path: Path) -> None:
    """``figure`` drawn once, written to ``path`` as PNG and logged to TensorBoard as ``tag``."""
    pixels = plots.render(figure)
    plots.write_png(pixels, path)
    add_image(trainer, tag, pixels)
