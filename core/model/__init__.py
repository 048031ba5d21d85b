"""The lifting networks (torch): PoseMoE, the entangled and MLP baselines, their losses.

Imports torch; nothing here runs at import. Use :func:`build_model` to make a network from a ModelConfig.
"""

from __future__ import annotations

from torch import nn

from core.config import ModelConfig


def build_model(cfg: ModelConfig) -> nn.Module:
    """Return an untrained lifter for ``cfg.arch`` ("posemoe" | "entangled" | "mlp" | "temporal_mlp")."""
    from core.model.baseline import EntangledLifter, MlpLifter
    from core.model.posemoe import PoseMoE
    from core.model.temporal_mlp import TemporalMlpLifter

    archs = {"posemoe": PoseMoE, "entangled": EntangledLifter, "mlp": MlpLifter, "temporal_mlp": TemporalMlpLifter}
    return archs[cfg.arch](cfg)


def count_parameters(model: nn.Module) -> int:
    """Return the number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
