"""Classification heads put on top of a backbone's features ("custom layers" in the fish study)."""

from __future__ import annotations

from torch import nn


def build_head(
    in_features: int, num_classes: int, hidden_dim: int | None = None, dropout: float = 0.2
) -> nn.Sequential:
    """Dropout + linear; with ``hidden_dim``, linear-ReLU-dropout before the final linear layer."""
    if hidden_dim:
        return nn.Sequential(
            nn.Linear(in_features, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, num_classes),
        )
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, num_classes))
