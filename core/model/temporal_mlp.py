"""Temporal MLP lifter: the single-frame residual MLP followed by dilated temporal convolutions over its
per-frame features (VideoPose3D-like receptive field, 3 ** temporal_layers frames).

Why this exists: on two CPU cores the single-frame MLP sees ~7x more frames per minute than the
transformers and reaches the better P-MPJPE (docs/model.md, "A longer MLP"), but it cannot use
neighbouring frames and jitters. The convolutions add that context (about 3x the MLP's training step, still
many more frames per minute than the transformers).
The temporal blocks' output projections start at zero, so a trained MLP's weights (same tensor names)
are an exact starting point (TrainConfig.init_weights).
Same contract as the other lifters: (B, T, 17, 2) normalised 2D -> (B, T, 17, 3) metres, pelvis = 0.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from core.config import ModelConfig
from core.model.baseline import MlpLifter

log = logging.getLogger(__name__)


class TemporalBlock(nn.Module):
    """Pre-norm residual block: kernel-3 dilated convolution over frames, GELU, linear (zero-initialised).

    Replicate padding: at a window's edges the clip is assumed to hold still rather than to drop to zero.
    """

    def __init__(self, dim: int, dilation: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.conv = nn.Conv1d(dim, dim, 3, dilation=dilation, padding=dilation, padding_mode="replicate")
        self.act, self.drop = nn.GELU(), nn.Dropout(dropout)
        self.proj = nn.Linear(dim, dim)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Return (B, T, C) features after mixing each frame with its neighbours at the block's dilation."""
        y = self.conv(self.norm(h).transpose(1, 2)).transpose(1, 2)
        return h + self.proj(self.drop(self.act(y)))


def dilations(cfg: ModelConfig) -> list[int]:
    """Return the temporal blocks' dilations: 1, 3, 9, ... restarting every ``cfg.dilation_cycle`` blocks."""
    return [3 ** (i % cfg.dilation_cycle if cfg.dilation_cycle else i) for i in range(cfg.temporal_layers)]


class TemporalMlpLifter(MlpLifter):
    """:class:`MlpLifter` (per-frame trunk, same tensor names) + ``temporal_layers`` blocks, dilations 1, 3, 9...

    Blocks added after a trained model's (``dilation_cycle``) start as the identity, like the temporal blocks
    on a trained MLP: a deeper model can start from a shallower one's weights exactly."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg)
        hidden = cfg.channels * 8
        self.temporal = nn.ModuleList(TemporalBlock(hidden, d, cfg.dropout) for d in dilations(cfg))

    def mix_frames(self, h: torch.Tensor) -> torch.Tensor:
        """Return (B, T, C) per-frame features after the temporal blocks."""
        for block in self.temporal:
            h = block(h)
        return h
