"""Baselines: an entangled spatial-temporal transformer (one stream, PoseMoE's blocks) and a single-frame MLP.

Same contract as PoseMoE: (B, T, 17, 2) normalised 2D -> (B, T, 17, 3) metres, camera frame, pelvis = 0.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from core.config import ModelConfig
from core.model.blocks import AxisBlock, Embedding, root_relative

log = logging.getLogger(__name__)


class EntangledLifter(nn.Module):
    """One shared feature space for 2D and depth: (expert_layers + 2 * decoder_layers) spatial-temporal pairs,
    so that with matched ``channels`` its depth equals PoseMoE's; set ``channels`` to match parameter count."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c, h, r, d = cfg.channels, cfg.heads, cfg.mlp_ratio, cfg.dropout
        self.embed = Embedding(2, c, cfg.num_joints, cfg.window)
        n = cfg.expert_layers + cfg.decoder_layers
        self.blocks = nn.ModuleList(
            b for _ in range(n) for b in (AxisBlock(c, h, r, "spatial", d), AxisBlock(c, h, r, "temporal", d))
        )
        self.norm = nn.LayerNorm(c)
        self.head = nn.Linear(c, 3)

    def forward_train(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return {"pose": (B, T, J, 3)}."""
        f = self.embed(x)
        for block in self.blocks:
            f = block(f)
        return {"pose": root_relative(self.head(self.norm(f)))}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return (B, T, J, 3) root-relative camera-frame joints in metres."""
        return self.forward_train(x)["pose"]


class MlpLifter(nn.Module):
    """Single-frame residual MLP (Martinez et al. style): each frame lifted on its own; any T works."""

    any_length = True
    """Lifts a clip of any length in one pass (core.inference lifts clips shorter than a window whole)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        j, hidden = cfg.num_joints, cfg.channels * 8
        self.inp = nn.Linear(j * 2, hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(cfg.dropout))
            for _ in range(2 * cfg.expert_layers)
        )
        self.out = nn.Linear(hidden, j * 3)

    def forward_train(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return {"pose": (B, T, J, 3)}."""
        b, t, j, _ = x.shape
        h = self.inp(x.reshape(b, t, j * 2))
        for block in self.blocks:
            h = h + block(h)
        return {"pose": root_relative(self.out(self.mix_frames(h)).view(b, t, j, 3))}

    def mix_frames(self, h: torch.Tensor) -> torch.Tensor:
        """Return the (B, T, C) per-frame features unchanged: frames stay independent (the temporal MLP overrides)."""
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return (B, T, J, 3) root-relative camera-frame joints in metres."""
        return self.forward_train(x)["pose"]
