"""Training losses for the lifters (torch). Poses are (B, T, J, 3) metres; losses are in metres (or m/frame).

Total (see :func:`lifter_loss`): weighted MPJPE + temporal consistency + velocity (MPJVE) + acceleration (off
by default) + auxiliary 2D and depth terms on the encoder outputs + a weak Gaussian-prior likelihood term,
weights from LossConfig.
"""

from __future__ import annotations

import logging

import torch

from core.config import LossConfig

log = logging.getLogger(__name__)

JOINT_WEIGHTS = (1.0, 1.0, 2.5, 2.5, 1.0, 2.5, 2.5, 1.0, 1.0, 1.0, 1.5, 1.5, 4.0, 4.0, 1.5, 4.0, 4.0)
"""Per-joint MPJPE weights (MixSTE's): extremities count more."""


def weighted_mpjpe(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Return the (weighted) mean per-joint position error, scalar, in the inputs' unit."""
    err = torch.linalg.vector_norm(pred - target, dim=-1)
    if weights is None:
        return err.mean()
    return (err * weights).mean() / weights.mean()


def velocity_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Return the mean per-joint velocity error (MPJVE), scalar, input unit per frame."""
    if pred.shape[1] < 2:
        return pred.new_zeros(())
    return torch.linalg.vector_norm(pred.diff(dim=1) - target.diff(dim=1), dim=-1).mean()


def acceleration_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Return the mean per-joint acceleration error (second differences), scalar, input unit per frame squared."""
    if pred.shape[1] < 3:
        return pred.new_zeros(())
    return torch.linalg.vector_norm(pred.diff(n=2, dim=1) - target.diff(n=2, dim=1), dim=-1).mean()


def temporal_consistency(pred: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Return the mean (weighted) frame-to-frame displacement of the prediction (smoothness), scalar."""
    if pred.shape[1] < 2:
        return pred.new_zeros(())
    d = torch.linalg.vector_norm(pred.diff(dim=1), dim=-1)
    return d.mean() if weights is None else (d * weights).mean() / weights.mean()


def lifter_loss(out: dict[str, torch.Tensor], target: torch.Tensor, clean_2d: torch.Tensor,
                cfg: LossConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:  # fmt: skip
    """Return (total loss, {term: detached scalar tensor}) for model outputs ``out`` (see PoseMoE.forward_train).

    target: (B, T, J, 3) metres, root-relative camera frame; clean_2d: (B, T, J, 2) true normalised 2D.
    The temporal term is small next to the velocity term: it only damps jitter the velocity term misses.
    """
    pred = out["pose"]
    w = torch.as_tensor(JOINT_WEIGHTS, dtype=pred.dtype, device=pred.device)
    terms = {
        "mpjpe": weighted_mpjpe(pred, target, w),
        "velocity": velocity_error(pred, target),
        "temporal": 0.1 * temporal_consistency(pred, w),
    }
    if cfg.accel:  # off by default: the shipped weights trained without it, and reading it costs a pass
        terms["accel"] = acceleration_error(pred, target)
    if "aux_2d" in out:
        terms["aux_2d"] = torch.linalg.vector_norm(out["aux_2d"] - clean_2d, dim=-1).mean()
    if "aux_depth" in out:
        terms["aux_depth"] = (out["aux_depth"] - target[..., 2]).abs().mean()
    if "prior_mu" in out:
        z = target[..., 2]
        ls = out["prior_log_sigma"]
        terms["prior"] = (0.5 * ((z - out["prior_mu"]) / ls.exp()) ** 2 + ls).mean()
    total = sum(getattr(cfg, k) * v for k, v in terms.items())
    return total, {k: v.detach() for k, v in terms.items()}  # tensors: reading them waits for a GPU
