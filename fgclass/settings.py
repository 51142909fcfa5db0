"""Which values the commands' numeric settings may take: one table per command.

One table per command (``TRAIN``, ``EVAL``, ``PREDICT``, ``EXPORT``, ``AUDIT``, ``PACK``) maps a setting to
the values it accepts, so ``data.batch_size=abc`` or ``trainer.max_epochs=-2`` ends the command at
once with one message naming the setting and what to use, instead of a library's traceback after the
image scan (:func:`fgclass.setting_checks.check_settings` applies a table).

Epochs: ``trainer.max_epochs`` is a number of epochs >= 1, or -1 for no epoch limit (Lightning's
convention) where something else ends the run: ``trainer.max_steps``, ``trainer.max_time`` or early
stopping, and no schedule that spans ``max_epochs`` (``model/schedulers=cosine``).
"""

from __future__ import annotations

from fgclass.setting_checks import Exactly, Number, Rule

MIN_IMAGE_SIZE = 16  # pixels: the smallest side the backbones (which downsample 32x) turn into features


def _null(rule: Rule, meaning: str = "the default") -> Rule:
    return (*rule, Exactly(None, meaning))


SEED: Rule = (Number(int, 0, 2**32 - 1, meaning="a seed"),)
BATCH: Rule = (Number(int, 1, meaning="images per batch"),)
WORKERS: Rule = (Number(int, 0, meaning="loader processes; 0: load in the main process"),)
SIZE: Rule = (Number(int, MIN_IMAGE_SIZE, meaning="pixels"),)
RATE: Rule = (Number(float, 0, bounds="(]", meaning="a learning rate"),)
POSITIVE: Rule = (Number(float, 0, bounds="(]"),)
NON_NEGATIVE: Rule = (Number(float, 0),)
SHARE: Rule = (Number(float, 0, 1, "(]", "a share"),)
OPEN_SHARE: Rule = (Number(float, 0, 1, "()", "a share"),)
PROBABILITY: Rule = (Number(float, 0, 1),)
COUNT: Rule = (Number(int, 1),)
NON_NEGATIVE_COUNT: Rule = (Number(int, 0),)
HAMMING_BITS: Rule = (Number(int, 0, 256, meaning="Hamming bits of 256"),)
NO_LIMIT = Exactly(-1, "no limit")
BATCHES: Rule = (
    Number(int, 0, meaning="a number of batches"),
    Number(float, 0, 1, meaning="a share of the batches"),
    Exactly(None, "all"),
)

DATA: dict[str, Rule] = {
    "data.image_size": SIZE,
    "data.train_image_size": SIZE,
    "data.resize_size": SIZE,
    "data.crop_pct": SHARE,
    "data.batch_size": BATCH,
    "data.eval_batch_size": _null(BATCH, "as data.batch_size"),
    "data.num_workers": _null(WORKERS, "one per core"),
    "data.train_fraction": SHARE,
    "data.split.val": OPEN_SHARE,
    "data.split.test": OPEN_SHARE,
    "data.split.seed": SEED,
    "data.split.threshold": HAMMING_BITS,
    "data.split.embedding_threshold": _null((Number(float, 0, 1, "()", "a cosine similarity"),), "off"),
    "data.seed": SEED,
}
TRAINER: dict[str, Rule] = {
    "trainer.max_epochs": (Number(int, 1, meaning="epochs"), NO_LIMIT),
    "trainer.min_epochs": _null(NON_NEGATIVE_COUNT),
    "trainer.max_steps": (Number(int, 1, meaning="optimizer steps"), NO_LIMIT),
    "trainer.min_steps": _null(NON_NEGATIVE_COUNT),
    "trainer.num_nodes": COUNT,
    "trainer.accumulate_grad_batches": COUNT,
    **{f"trainer.limit_{stage}_batches": BATCHES for stage in ("train", "val", "test", "predict")},
    "trainer.overfit_batches": BATCHES[:2],
    "trainer.val_check_interval": _null((Number(int, 1, meaning="batches"), *SHARE), "once per epoch"),
    "trainer.check_val_every_n_epoch": _null(COUNT, "validate only at val_check_interval"),
    "trainer.log_every_n_steps": _null(COUNT),
    "trainer.gradient_clip_val": _null(NON_NEGATIVE, "no clipping"),
    "trainer.num_sanity_val_steps": _null((Number(int, 0), Exactly(-1, "all of them"))),
    "trainer.reload_dataloaders_every_n_epochs": NON_NEGATIVE_COUNT,
}
EVALUATION: dict[str, Rule] = {
    "eval.noise_sigmas.*": (Number(float, 0, meaning="a noise std in [0, 1] pixel space"),),
    "eval.noise_seed": SEED,
    "eval.top_k": COUNT,
    "eval.rejection.acceptance": SHARE,
    "eval.gradcam.num_mistakes": NON_NEGATIVE_COUNT,
    "eval.gradcam.num_correct": NON_NEGATIVE_COUNT,
    "eval.matrix_max_classes": NON_NEGATIVE_COUNT,
    "eval.top_confusions": NON_NEGATIVE_COUNT,
}
SCHEDULER = "model.schedulers.*.scheduler"
TRAIN: dict[str, Rule] = {
    "seed": SEED,
    **DATA,
    "model.optimizer.lr": RATE,
    "model.optimizer.weight_decay": NON_NEGATIVE,
    "model.optimizer.momentum": (Number(float, 0, 1, "[)"),),
    "model.lr_layer_decay": SHARE,
    "model.lr_base_size": _null((Number(int, 1, meaning="a global batch"),), "rates not scaled"),
    "model.head.dropout": (Number(float, 0, 1, "[)"),),
    "model.head.hidden_dim": _null(COUNT, "no hidden layer"),
    "model.loss.label_smoothing": (Number(float, 0, 1, "[)"),),
    "model.loss.gamma": NON_NEGATIVE,
    "model.mixing.mixup_alpha": NON_NEGATIVE,
    "model.mixing.cutmix_alpha": NON_NEGATIVE,
    "model.mixing.prob": PROBABILITY,
    f"{SCHEDULER}.factor": (Number(float, 0, 1, "()"),),
    f"{SCHEDULER}.gamma": (Number(float, 0, 1, "(]"),),
    f"{SCHEDULER}.step_size": (Number(int, 1, meaning="epochs"),),
    f"{SCHEDULER}.patience": (Number(int, 0, meaning="epochs"),),
    f"{SCHEDULER}.warmup_epochs": NON_NEGATIVE_COUNT,
    f"{SCHEDULER}.min_factor": PROBABILITY,
    f"{SCHEDULER}.min_lr": NON_NEGATIVE,
    **TRAINER,
    "callbacks.early_stopping.patience": (Number(int, 0, meaning="epochs"),),
    "callbacks.early_stopping.min_delta": NON_NEGATIVE,
    "callbacks.lr_floor_stopping.patience": _null((Number(int, 0, meaning="epochs"),), "the scheduler's"),
    "callbacks.lr_floor_stopping.min_delta": NON_NEGATIVE,
    "callbacks.model_checkpoint.save_top_k": (Number(int, 0), Exactly(-1, "every epoch")),
    "callbacks.ema.decay": (Number(float, 0, 1, "()"),),
    "callbacks.ema.update_every_n_steps": COUNT,
    "callbacks.sample_grid.num_images": NON_NEGATIVE_COUNT,
    "finetune.stage1_epochs": NON_NEGATIVE_COUNT,
    "finetune.lr_all": RATE,
    "finetune.callback.phases.*.epoch": NON_NEGATIVE_COUNT,
    "finetune.callback.phases.*.lr": RATE,
    "finetune.callback.phases.*.head_lr": _null(RATE, "the head keeps its rate"),
    **EVALUATION,
    "lr_find.min_lr": RATE,
    "lr_find.max_lr": RATE,
    "lr_find.num_training": (Number(int, 1, meaning="steps"),),
    "lr_find.early_stop_threshold": _null(POSITIVE, "run every step"),
}
EVAL: dict[str, Rule] = {
    "data.batch_size": _null(BATCH, "as in the run"),
    "data.num_workers": _null(WORKERS, "one per core"),
    "data.image_size": _null(SIZE, "as in the run"),
    "data.resize_size": _null(SIZE, "as in the run"),
    "data.crop_pct": _null(SHARE, "as in the run"),
    **TRAINER,
    **EVALUATION,
}
PREDICT: dict[str, Rule] = {
    "top_k": (Number(int, 1, meaning="classes listed per image"),),
    "batch_size": BATCH,
    "num_workers": _null(WORKERS, "one per core"),
    "image_size": _null(SIZE, "the checkpoint's"),
    "resize_size": _null(SIZE, "the checkpoint's"),
    **TRAINER,
}
EXPORT: dict[str, Rule] = {
    "batch_size": BATCH,
    "opset": (Number(int, 7, meaning="an ONNX opset version"),),
    "tolerance": (Number(float, 0, bounds="(]", meaning="the largest logit difference accepted"),),
    "image_size": _null(SIZE, "the checkpoint's"),
    "resize_size": _null(SIZE, "the checkpoint's"),
}
AUDIT: dict[str, Rule] = {
    **DATA,
    "audit.threshold": HAMMING_BITS,
    "audit.min_size": NON_NEGATIVE_COUNT,
    "audit.imbalance_ratio": (Number(float, 1),),
    "audit.image_size": SIZE,
    "audit.resize_size": SIZE,
    "audit.folds": (Number(int, 2, meaning="cross-validation folds"),),
    "audit.C": POSITIVE,
    "audit.max_iter": COUNT,
    "audit.seed": SEED,
    "audit.sheet_size": NON_NEGATIVE_COUNT,
}
PACK: dict[str, Rule] = {**DATA, "pack.num_workers": _null(COUNT, "one per core")}
