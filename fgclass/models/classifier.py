"""The LightningModule: backbone + head, loss, metrics, optimizer and schedulers from config."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torchmetrics import MaxMetric

from fgclass.errors import ConfigError
from fgclass.metrics import (
    ACCURACY,
    BEST_VAL_ACCURACY,
    LOSS,
    Results,
    classification_metrics,
    compute_results,
    gather_outputs,
)
from fgclass.models.backbones import create_backbone
from fgclass.models.heads import build_head
from fgclass.models.lr_scaling import ScaledLearningRate, check_lr_settings
from fgclass.models.mixing import BatchMixing
from fgclass.outputs import Outputs, reduce_logits


def _current_form(
    head: Mapping[str, Any] | None, loss: Mapping[str, Any] | None
) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
    """Head and loss as ``_target_`` configs, also from checkpoints written before they were
    (``head: {hidden_dim, dropout}``, ``loss: {name, label_smoothing, gamma}``)."""
    if head and "_target_" not in head:
        head = {"_target_": "fgclass.models.heads.build_head", "_partial_": True, **head}
    if loss and "_target_" not in loss:
        options = {k: v for k, v in loss.items() if k != "name"}
        if loss.get("name", "cross_entropy") == "focal":
            loss = {"_target_": "fgclass.models.losses.FocalLoss", **options}
        else:
            options.pop("gamma", None)
            loss = {"_target_": "torch.nn.CrossEntropyLoss", **options}
    return head, loss


def normalize(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """``uint8`` 0-255 or float [0, 1] images, ``(N, 3, H, W)``, to ``(x - mean) / std`` in float."""
    x = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    return (x - mean) / std


class Classifier(ScaledLearningRate, L.LightningModule):
    """Image classifier over a registered backbone.

    Inputs are ``uint8`` images (0-255) or floats in [0, 1], shape ``(N, 3, H, W)``; the module
    normalises them itself with ``mean``/``std``. 2-D inputs are taken as pre-computed backbone
    features (frozen-feature caching) and go straight to the head.

    Fine-tuning strategies (:mod:`fgclass.finetune`) decide which backbone ``stages`` train by
    filling ``frozen_stages``; :meth:`configure_optimizers` makes one param group per trainable
    stage plus ``head``.

    Args:
        num_classes: number of classes (from the data module).
        class_names: class names in index order, stored with the checkpoint.
        backbone: registry name (see :func:`fgclass.models.backbones.available_backbones`) or
            ``timm/<model>``.
        weights: ``None``, ``DEFAULT``, a torchvision weights name or timm tag, or a local state-dict path.
        backbone_kwargs: extra arguments for the torchvision/timm builder.
        head: Hydra config of a partial head builder, called with (in_features, num_classes)
            (``conf/model/head/``); ``None``: :func:`~fgclass.models.heads.build_head`'s default.
        loss: Hydra config of the loss module (``conf/model/loss/``); ``None``: cross-entropy.
        optimizer: Hydra config of a torch optimizer (``_target_``, ``lr``, ...); ``lr`` is the base rate.
        schedulers: named Lightning scheduler configs: ``{name: {scheduler: {_target_...},
            interval, frequency, monitor}}``; several may drive the one optimizer.
        mean / std: input normalisation; ``None``: what the backbone's weights were trained with
            (the resolved values are saved with the checkpoint).
        channels_last: run convolutions in NHWC memory format (faster with AMX and tensor cores).
        mixing: :class:`~fgclass.models.mixing.BatchMixing` options (``mixup_alpha``, ``cutmix_alpha``,
            ``prob``) to train on mixed images with soft targets; ``None``/empty: no mixing.
        lr_layer_decay: layer-wise learning-rate decay: backbone stage ``k`` from the top trains at
            ``lr * lr_layer_decay ** k`` (the head at ``lr``); 1.0 keeps one learning rate.
        lr_base_size / lr_base_scale: the global batch the base rates were tuned at, and how every
            rate follows another one (``linear``, ``sqrt``, ``none``; ``None``: sqrt for Adam-family
            optimizers, else linear): :class:`~fgclass.models.lr_scaling.ScaledLearningRate`. Arguments
            here, not in ``optimizer``, which is passed to the torch optimizer as it is.
        image_size / resize_size: the eval preprocessing (shorter side to ``resize_size``, centre
            crop ``image_size``), kept in the checkpoint so predict and export need no training data.
        temperature: the calibration temperature fitted after training (calibrated probabilities
            are ``softmax(logits / temperature)``); ``None``: not calibrated. The logits themselves
            never change.
        rejection: the "unknown" rule fitted after training (:mod:`fgclass.evaluation.ood`: score,
            threshold, acceptance); ``None``: every image gets a class.
    """

    def __init__(
        self,
        num_classes: int,
        class_names: Sequence[str] | None = None,
        backbone: str = "resnet50",
        weights: str | None = None,
        backbone_kwargs: Mapping[str, Any] | None = None,
        head: Mapping[str, Any] | None = None,
        loss: Mapping[str, Any] | None = None,
        optimizer: Mapping[str, Any] | None = None,
        schedulers: Mapping[str, Mapping[str, Any]] | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        channels_last: bool = False,
        mixing: Mapping[str, float] | None = None,
        lr_layer_decay: float = 1.0,
        lr_base_size: int | None = None,
        lr_base_scale: str | None = None,
        image_size: int | None = None,
        resize_size: int | None = None,
        temperature: float | None = None,
        rejection: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)  # logged with the final metrics instead
        net = create_backbone(backbone, weights, **(backbone_kwargs or {}))
        self.backbone = net.model
        self.stages = net.stages
        self.cam_layer = net.cam_layer
        head, loss = _current_form(head, loss)
        self.head = (instantiate(head) if head else build_head)(net.num_features, num_classes)
        self.criterion = instantiate(loss) if loss else nn.CrossEntropyLoss()
        self.mixing = BatchMixing(num_classes, **mixing) if mixing else None
        if self.mixing and not isinstance(self.criterion, nn.CrossEntropyLoss):
            raise ConfigError("model.mixing needs model/loss=cross_entropy (soft targets).")
        if not 0 < lr_layer_decay <= 1:
            raise ConfigError(f"model.lr_layer_decay={lr_layer_decay}: use a factor in (0, 1].")
        check_lr_settings(lr_base_size, lr_base_scale)
        self.hparams.mean = list(mean or net.mean)  # the checkpoint keeps what the weights needed
        self.hparams.std = list(std or net.std)
        self.register_buffer("mean", torch.tensor(self.hparams.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(self.hparams.std).view(1, 3, 1, 1), persistent=False)
        self.train_metrics = classification_metrics(num_classes, (ACCURACY,), prefix="train/")
        self.val_metrics = classification_metrics(num_classes, prefix="val/")
        self.val_acc_best = MaxMetric()  # logged as BEST_VAL_ACCURACY
        self.val_acc_best.persistent(True)  # a resumed run remembers the best before it
        self.frozen_stages: set[str] = set()
        self.keep_frozen_in_optimizer = False
        self.frozen_bn_stats = False  # BatchNorm of every stage in eval mode, frozen or not
        self.test_outputs: list[Outputs] = []
        self.test_results: Results | None = None  # the last test run, gathered from every rank
        self.tta = False  # test/predict: average over horizontal flips (see predict_logits)
        self.train_resolution: int | None = None  # training batches resized to it (ProgressiveResizing)
        if channels_last:
            self.to(memory_format=torch.channels_last)

    @property
    def class_names(self) -> list[str]:
        names = self.hparams.class_names
        return list(names) if names else [str(i) for i in range(self.hparams.num_classes)]

    # --- forward -----------------------------------------------------------------------------
    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """``uint8`` 0-255 or float [0, 1] images to normalised float tensors."""
        x = normalize(images, self.mean, self.std)
        if self.hparams.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Backbone features ``(N, num_features)`` of a batch of images."""
        return self.backbone(self.normalize(images))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x if x.ndim == 2 else self.features(x))

    # --- steps -------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        """Hand a re-weighted loss (``set_class_counts``) the training split's class counts."""
        counts = getattr(self.trainer.datamodule, "class_counts", None) if stage == "fit" else None
        if counts is not None and hasattr(self.criterion, "set_class_counts"):
            self.criterion.set_class_counts(counts)

    def training_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch[0], batch[1]
        target = y
        if self.train_resolution and x.ndim == 4 and x.shape[-1] != self.train_resolution:
            x = x.float() / 255 if x.dtype == torch.uint8 else x  # normalize() takes [0, 1] floats too
            x = nn.functional.interpolate(x, size=self.train_resolution, mode="bilinear", antialias=True)
        if self.mixing is not None and x.ndim == 4:  # images, not cached features
            x, target = self.mixing(x, y)
        logits = self(x)
        loss = self.criterion(logits, target)
        self.train_metrics(logits, y)  # against the original labels
        self.log(f"train/{LOSS}", loss, on_step=True, on_epoch=True, prog_bar=True, sync_dist=True)
        self.log_dict(self.train_metrics, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> None:
        x, y = batch[0], batch[1]
        logits = self(x)
        self.log(f"val/{LOSS}", self.criterion(logits, y), prog_bar=True, sync_dist=True)
        self.val_metrics(logits, y)
        self.log_dict(self.val_metrics, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:  # a few batches of an untrained model: not an epoch
            return
        self.val_acc_best(self.val_metrics[ACCURACY].compute())
        self.log(BEST_VAL_ACCURACY, self.val_acc_best.compute())

    def on_test_epoch_start(self) -> None:
        self.test_outputs = []

    def test_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> None:
        """Each batch's logits reduced as they leave the model (:mod:`fgclass.outputs`: memory
        bounded in classes), with the training criterion of each image."""
        x, y, index = batch
        logits = self.predict_logits(x).float()
        loss = torch.func.vmap(lambda row, label: self.criterion(row[None], label[None]))(logits, y)
        self.test_outputs.append(reduce_logits(logits, y, index, loss))

    def on_test_epoch_end(self) -> None:
        # every rank's outputs, each image once: the one source of the test metrics and reports, which
        # fgclass.evaluation writes and logs (this loop also runs its other passes: val, TTA, noise)
        outputs = gather_outputs(self.trainer, self.test_outputs)
        self.test_outputs = []
        self.test_results = compute_results(outputs)

    def predict_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch; with test-time augmentation (``self.tta``), the log of the class
        probabilities averaged over each image and its mirror image."""
        if not self.tta or x.ndim == 2:
            return self(x)
        return ((self(x).float().softmax(1) + self(x.flip(-1)).float().softmax(1)) / 2).log()

    def predict_step(self, batch: Sequence[Any], batch_idx: int) -> tuple[Any, ...]:
        """``(logits, *rest)`` of a batch ``(images, *rest)``, on the CPU."""
        x, *rest = batch
        rest = [r.cpu() if isinstance(r, torch.Tensor) else r for r in rest]
        return (self.predict_logits(x).float().cpu(), *rest)

    # --- fine-tuning support -----------------------------------------------------------------
    def stage_parameters(self) -> dict[str, list[nn.Parameter]]:
        """Backbone parameters per stage, input to output."""
        named = list(self.backbone.named_parameters())
        return {
            stage: [p for n, p in named if any(n.startswith(prefix) for prefix in prefixes)]
            for stage, prefixes in self.stages.items()
        }

    def train(self, mode: bool = True) -> Classifier:
        """Like ``nn.Module.train``, but normalisation layers of frozen stages (of every stage with
        ``frozen_bn_stats``) stay in eval mode, so they keep their running statistics: a frozen
        backbone behaves exactly as at inference."""
        super().train(mode)
        fixed = set(self.stages) if self.frozen_bn_stats else self.frozen_stages
        if mode and fixed:
            prefixes = tuple(p for s in fixed for p in self.stages[s])
            for name, module in self.backbone.named_modules():
                if isinstance(module, _BatchNorm) and f"{name}.".startswith(prefixes):
                    module.eval()
        return self

    def configure_optimizers(self) -> dict[str, Any] | tuple[list, list]:
        optimizer_cfg = self.optimizer_config()
        optimizer_cfg["lr"] = lr = self.lr
        groups = [{"name": "head", "params": list(self.head.parameters())}]
        stages = self.stage_parameters()
        for depth, (stage, params) in enumerate(reversed(stages.items()), start=1):
            frozen = stage in self.frozen_stages
            if frozen and not self.keep_frozen_in_optimizer:
                continue
            stage_lr = lr * self.hparams.lr_layer_decay**depth
            groups.insert(
                1, {"name": f"backbone.{stage}", "params": params, "lr": 0.0 if frozen else stage_lr}
            )
        optimizer = instantiate(optimizer_cfg, _partial_=True, _convert_="all")(groups)
        schedulers = []
        for cfg in (self.hparams.schedulers or {}).values():
            if not cfg:
                continue
            cfg = dict(cfg)
            scheduler = instantiate(cfg.pop("scheduler"), _partial_=True, _convert_="all")(optimizer)
            # LearningRateMonitor logs each param group once, as lr-<Optimizer>/<group>, whether or
            # not (and however many) schedulers drive the optimizer
            schedulers.append({"scheduler": scheduler, "name": f"lr-{type(optimizer).__name__}", **cfg})
        return [optimizer], schedulers

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The state dict holds the trained weights: loading the checkpoint elsewhere must not
        # fetch or read the pretrained weights again.
        hparams = checkpoint.get("hyper_parameters", {})
        hparams["pretrained_weights"] = hparams.get("weights") or hparams.get("pretrained_weights")
        hparams["weights"] = None
