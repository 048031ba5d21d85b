"""PoseMoE lifter (DESIGN.md section 4): a 2D-pose expert and a depth expert, a pose router, and a decoder
with bidirectional cross-attention between the streams over joints and over frames.

Input (B, T, 17, 2) normalised 2D (T <= window); output (B, T, 17, 3) metres, camera frame, pelvis = 0.
``forward_train`` also returns the auxiliary encoder outputs and the depth-prior parameters for the loss.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from core.config import ModelConfig
from core.model.blocks import AxisBlock, CrossAxisBlock, Embedding, root_relative

log = logging.getLogger(__name__)


class Expert(nn.Module):
    """One expert stream: alternating spatial and temporal blocks (``layers`` pairs)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c, h, r, d = cfg.channels, cfg.heads, cfg.mlp_ratio, cfg.dropout
        self.blocks = nn.ModuleList(
            nn.ModuleList([AxisBlock(c, h, r, "spatial", d), AxisBlock(c, h, r, "temporal", d)])
            for _ in range(cfg.expert_layers)
        )

    def layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Return x (B, T, J, C) after spatial-temporal layer ``i``."""
        spatial, temporal = self.blocks[i]
        return temporal(spatial(x))


class PoseRouter(nn.Module):
    """Per-token gate: each stream keeps ``g`` of its own features and takes ``1 - g`` from the other."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gate = nn.Linear(2 * dim, 2)
        nn.init.zeros_(self.gate.weight)
        nn.init.constant_(self.gate.bias, 2.0)  # start mostly decoupled (g ~ 0.88)

    def forward(self, x2d: torch.Tensor, xd: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the mixed (2D stream, depth stream), each (B, T, J, C)."""
        g = torch.sigmoid(self.gate(torch.cat([x2d, xd], dim=-1)))
        g2, gd = g[..., :1], g[..., 1:]
        return g2 * x2d + (1 - g2) * xd, gd * xd + (1 - gd) * x2d


class DepthPrior(nn.Module):
    """Per-joint Gaussian root-relative depth prior N(mu_j, sigma_j^2) (metres), embedded into C channels."""

    def __init__(self, joints: int, dim: int) -> None:
        super().__init__()
        self.mu = nn.Parameter(torch.zeros(joints))
        self.log_sigma = nn.Parameter(torch.full((joints,), -1.5))  # sigma ~ 0.22 m
        self.embed = nn.Linear(1, dim)

    def forward(self, shape: torch.Size) -> torch.Tensor:
        """Return (B, T, J, C) embedded depth samples (reparameterised in training, the mean at eval)."""
        b, t, j = shape[:3]
        z = self.mu.expand(b, t, j)
        if self.training:
            z = z + torch.randn(b, t, j, device=z.device, dtype=z.dtype) * self.log_sigma.exp()
        return self.embed(z.unsqueeze(-1))


class DecoderLayer(nn.Module):
    """Bidirectional cross-expert aggregation (2D<->depth over joints, then over frames), or, with
    cross_attention off, the same number of self-attention blocks per stream (ablation)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c, h, r, d = cfg.channels, cfg.heads, cfg.mlp_ratio, cfg.dropout
        self.cross = cfg.cross_attention
        block = CrossAxisBlock if self.cross else AxisBlock
        self.blocks = nn.ModuleDict({f"{s}_{a}": block(c, h, r, a, d)
                                     for a in ("spatial", "temporal") for s in ("to2d", "todepth")})  # fmt: skip

    def forward(self, x2d: torch.Tensor, xd: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the updated (2D stream, depth stream)."""
        for a in ("spatial", "temporal"):
            f2, fd = self.blocks[f"to2d_{a}"], self.blocks[f"todepth_{a}"]
            if self.cross:
                x2d, xd = f2(x2d, xd), fd(xd, x2d)
            else:
                x2d, xd = f2(x2d), fd(xd)
        return x2d, xd


class PoseMoE(nn.Module):
    """The PoseMoE lifter; see the module docstring for the contract."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c, j = cfg.channels, cfg.num_joints
        self.embed = Embedding(2, c, j, cfg.window)
        self.expert_2d, self.expert_depth = Expert(cfg), Expert(cfg)
        self.depth_prior = DepthPrior(j, c) if cfg.depth_prior else None
        self.routers = nn.ModuleList(PoseRouter(c) for _ in range(cfg.expert_layers)) if cfg.router else None
        self.decoder = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.decoder_layers))
        self.norm_2d, self.norm_depth = nn.LayerNorm(c), nn.LayerNorm(c)
        self.head_xy, self.head_z = nn.Linear(c, 2), nn.Linear(c, 1)
        self.aux_2d, self.aux_depth = nn.Linear(c, 2), nn.Linear(c, 1)

    def forward_train(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return {"pose": (B,T,J,3), "aux_2d": (B,T,J,2), "aux_depth": (B,T,J), "prior_mu"/"prior_log_sigma": (J,)}."""
        f = self.embed(x)
        x2d, xd = f, f
        if self.depth_prior is not None:
            xd = xd + self.depth_prior(f.shape)
        for i in range(self.cfg.expert_layers):
            x2d, xd = self.expert_2d.layer(i, x2d), self.expert_depth.layer(i, xd)
            if self.routers is not None:
                x2d, xd = self.routers[i](x2d, xd)
        out = {"aux_2d": self.aux_2d(x2d), "aux_depth": self.aux_depth(xd).squeeze(-1)}
        for layer in self.decoder:
            x2d, xd = layer(x2d, xd)
        pose = torch.cat([self.head_xy(self.norm_2d(x2d)), self.head_z(self.norm_depth(xd))], dim=-1)
        out["pose"] = root_relative(pose)
        if self.depth_prior is not None:
            out["prior_mu"], out["prior_log_sigma"] = self.depth_prior.mu, self.depth_prior.log_sigma
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return (B, T, J, 3) root-relative camera-frame joints in metres from (B, T, J, 2) normalised 2D."""
        return self.forward_train(x)["pose"]
