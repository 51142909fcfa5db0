"""Models: backbone registry, heads, losses and the Classifier LightningModule."""

from fgclass.models.backbones import available_backbones, create_backbone, register_backbone
from fgclass.models.classifier import Classifier

__all__ = ["Classifier", "available_backbones", "create_backbone", "register_backbone"]
