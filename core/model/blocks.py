"""Transformer building blocks for the lifters: attention (self or cross), MLP, spatial/temporal blocks.

Tensors are (B, T, J, C): batch, frames, joints, channels. Spatial blocks attend over joints within a
frame, temporal blocks over frames for each joint.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)


class Attention(nn.Module):
    """Multi-head attention; ``forward(q, kv)`` with kv = q for self-attention. Inputs (N, L, C)."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, q: torch.Tensor, kv: torch.Tensor | None = None) -> torch.Tensor:
        """Return (N, Lq, C) attended features."""
        kv = q if kv is None else kv
        n, lq, c = q.shape
        h = self.heads
        qh = self.q(q).view(n, lq, h, c // h).transpose(1, 2)
        k, v = self.kv(kv).view(n, kv.shape[1], 2, h, c // h).permute(2, 0, 3, 1, 4)
        drop = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(qh, k, v, dropout_p=drop)
        return self.proj(out.transpose(1, 2).reshape(n, lq, c))


class Mlp(nn.Module):
    """Two-layer GELU MLP; returns the same shape as its input."""

    def __init__(self, dim: int, ratio: float, dropout: float = 0.0) -> None:
        super().__init__()
        hidden = int(dim * ratio)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the MLP output, same shape as x."""
        return self.net(x)


def _to_axis(x: torch.Tensor, axis: str) -> torch.Tensor:
    """Return (B*T, J, C) for axis 'spatial' or (B*J, T, C) for 'temporal' from (B, T, J, C)."""
    b, t, j, c = x.shape
    if axis == "spatial":
        return x.reshape(b * t, j, c)
    return x.transpose(1, 2).reshape(b * j, t, c)


def _from_axis(x: torch.Tensor, axis: str, shape: torch.Size) -> torch.Tensor:
    """Return (B, T, J, C) from the layout of :func:`_to_axis`."""
    b, t, j, c = shape
    if axis == "spatial":
        return x.reshape(b, t, j, c)
    return x.reshape(b, j, t, c).transpose(1, 2)


class AxisBlock(nn.Module):
    """Pre-norm transformer block attending over one axis ('spatial' = joints, 'temporal' = frames)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, axis: str, dropout: float = 0.0) -> None:
        super().__init__()
        self.axis = axis
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout)
        self.mlp = Mlp(dim, mlp_ratio, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return (B, T, J, C) features after attention over the block's axis and the MLP."""
        y = _to_axis(self.norm1(x), self.axis)
        x = x + _from_axis(self.attn(y), self.axis, x.shape)
        return x + self.mlp(self.norm2(x))


class CrossAxisBlock(nn.Module):
    """Pre-norm cross-attention block: queries from one stream, keys/values from the other, over one axis."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, axis: str, dropout: float = 0.0) -> None:
        super().__init__()
        self.axis = axis
        self.norm_q, self.norm_kv, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout)
        self.mlp = Mlp(dim, mlp_ratio, dropout)

    def forward(self, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        """Return (B, T, J, C) features of ``x`` enriched by attending to ``other`` (same shape)."""
        q = _to_axis(self.norm_q(x), self.axis)
        kv = _to_axis(self.norm_kv(other), self.axis)
        x = x + _from_axis(self.attn(q, kv), self.axis, x.shape)
        return x + self.mlp(self.norm2(x))


class Embedding(nn.Module):
    """Linear embedding of (B, T, J, D) inputs plus learned spatial (J) and temporal (window) positions."""

    def __init__(self, in_dim: int, dim: int, joints: int, window: int) -> None:
        super().__init__()
        self.window = window
        self.linear = nn.Linear(in_dim, dim)
        self.spatial = nn.Parameter(torch.zeros(1, 1, joints, dim))
        self.temporal = nn.Parameter(torch.zeros(1, window, 1, dim))
        nn.init.trunc_normal_(self.spatial, std=0.02)
        nn.init.trunc_normal_(self.temporal, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return (B, T, J, C) embedded features; T must be <= window (positions are sliced)."""
        t = x.shape[1]
        if t > self.window:
            raise ValueError(f"sequence of {t} frames is longer than the model window {self.window}")
        return self.linear(x) + self.spatial + self.temporal[:, :t]


def root_relative(out: torch.Tensor) -> torch.Tensor:
    """Return (B, T, J, 3) with joint 0 (pelvis) subtracted, so the root is exactly 0."""
    return out - out[:, :, :1]
