"""Grad-CAM: every evaluation writes heatmaps of its most confident mistakes and a sample of correct
predictions; the explained layer comes from the backbone registry."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import IMAGES, EventAccumulator

from fgclass.errors import ConfigError
from fgclass.evaluation.gradcam import gradcam_maps, pick_examples
from fgclass.metrics import compute_results
from fgclass.models import Classifier
from fgclass.models.backbones import create_backbone
from fgclass.outputs import reduce_logits


def test_training_run_writes_gradcam_files_and_figure(trained_run: Path) -> None:
    folder = trained_run / "gradcam"
    with (folder / "index.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    with (trained_run / "predictions.csv").open() as handle:
        correct = [r["correct"] == "1" for r in csv.DictReader(handle)]
    mistakes = [r for r in rows if r["kind"] == "mistake"]
    assert len(mistakes) == min(8, correct.count(False))
    assert len(rows) == len(mistakes) + min(8, correct.count(True))
    probabilities = [float(r["probability"]) for r in mistakes]
    assert probabilities == sorted(probabilities, reverse=True)  # the most confident mistakes first
    assert all(r["true_label"] != r["predicted_label"] for r in mistakes)
    for row in rows:
        image = cv2.imread(str(folder / row["file"]))
        assert image.shape == (32, 64, 3)  # the test image beside its overlay
    events = EventAccumulator(str(trained_run / "tensorboard"), size_guidance={IMAGES: 0})
    events.Reload()
    assert "test/gradcam" in events.Tags()[IMAGES]
    assert (folder / "gradcam.png").is_file()


def test_examples_are_confident_mistakes_then_a_seeded_sample_of_correct_ones() -> None:
    targets = torch.tensor([0, 1, 2, 0, 1, 2])
    logits = torch.tensor([[5.0, 0, 0], [0, 1, 0.9], [3, 0, 0], [0, 0, 9], [0, 4, 0], [1, 0, 0]])
    results = compute_results(reduce_logits(logits, targets))
    picked = pick_examples(results, num_mistakes=2, num_correct=1, seed=0)
    assert picked[:2] == [3, 2]  # wrong with p~1.0, then wrong with p~0.91; row 5 (p~0.58) left out
    assert picked[2] in (0, 1, 4)
    assert pick_examples(results, 2, 1, seed=0) == picked


@pytest.mark.parametrize("backbone", ["resnet18", "timm/resnet10t"])
def test_heatmaps_explain_the_asked_class_and_leave_a_frozen_backbone_frozen(backbone: str) -> None:
    model = Classifier(3, backbone=backbone).eval()
    assert model.cam_layer == "layer4"  # from the registry / timm's feature_info
    linear = model.head[-1]
    with torch.no_grad():  # class 0 = +sum of the features, class 1 = -sum: opposite evidence
        linear.weight.zero_()
        linear.weight[0] = 1.0
        linear.weight[1] = -1.0
        linear.bias.zero_()
    for p in model.backbone.parameters():
        p.requires_grad_(False)  # as in a head-only run
    images = torch.randint(0, 256, (1, 3, 96, 96), dtype=torch.uint8).expand(2, -1, -1, -1)
    maps = gradcam_maps(model, images, [0, 1])
    assert maps.shape == (2, 96, 96) and maps.min() >= 0 and maps.max() <= 1
    assert maps[0].std() > 0 and maps[0].max() == pytest.approx(1)  # where the features are strong
    assert maps[1].max() == 0  # nothing in the image speaks for class 1
    assert not any(p.requires_grad for p in model.backbone.parameters())


def test_backbone_without_a_feature_map_is_a_clear_error() -> None:
    net = create_backbone("timm/vit_tiny_patch16_224", None, img_size=32)
    assert net.cam_layer is not None  # timm lists a module, but it outputs tokens
    model = Classifier(3, backbone="timm/vit_tiny_patch16_224", backbone_kwargs={"img_size": 32}).eval()
    with pytest.raises(ConfigError, match=r"needs a feature map \(N, C, H, W\)"):
        gradcam_maps(model, torch.zeros(1, 3, 32, 32, dtype=torch.uint8), [0])
