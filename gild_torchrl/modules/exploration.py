"""The collector's policy for a deterministic actor (DDPG, TD3): the actor's action plus N(0, std)
noise, clamped into the action bounds.

TorchRL's way to write it, ``TensorDictSequential(actor, AdditiveGaussianModule(...))``, runs
three TensorDict modules per collected frame (the MLP, the tanh rescaling, the noise), each
reading and writing the frame's TensorDict; here one module does the same arithmetic on tensors
(the same operations in the same order, the same draw from torch's generator), so the
collector's actions are the ones that composition gives, for less per frame.
"""

from __future__ import annotations

import torch
from tensordict.nn import TensorDictModule, TensorDictSequential
from torch import nn
from torchrl.envs.utils import ExplorationType, exploration_type
from torchrl.modules import TanhModule


class NoisyActor(nn.Module):
    """``observation -> clamp(actor(observation) + std * N(0, 1), low, high)``.

    ``actor``: :func:`gild_torchrl.modules.make_deterministic_actor`'s actor (an MLP module and a
    ``TanhModule``), whose parameters this module shares (not copies): the collector acts with
    the trained weights. Noise is added only while exploring (TorchRL's exploration type
    ``RANDOM``, the collector's, or unset), as ``AdditiveGaussianModule`` adds it.
    """

    def __init__(self, actor: TensorDictSequential, std: float):
        super().__init__()
        modules = list(getattr(actor, "module", ()))
        if len(modules) != 2 or not isinstance(modules[0], TensorDictModule) or not isinstance(modules[1], TanhModule):
            raise ValueError(f"NoisyActor: expected make_deterministic_actor's actor (an MLP and a TanhModule), "
                             f"got {type(actor).__name__} of {[type(m).__name__ for m in modules]}.")
        self.network, tanh = modules[0].module, modules[1]
        out_key = tanh.out_keys[0]
        key = out_key if isinstance(out_key, str) else "_".join(out_key)
        self.clamp_tanh, self.rescale = bool(tanh.clamp), bool(tanh.non_trivial)
        self.register_buffer("low", getattr(tanh, f"{key}_low").detach().clone())
        self.register_buffer("high", getattr(tanh, f"{key}_high").detach().clone())
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        action = self.network(observation).tanh()
        if self.clamp_tanh:
            eps = torch.finfo(action.dtype).resolution
            action = action.clamp(-1 + eps, 1 - eps)
        if self.rescale:
            action = self.low + (self.high - self.low) * (action + 1) / 2
        if exploration_type() not in (ExplorationType.RANDOM, None):
            return action
        noise = torch.normal(mean=self.mean.expand(action.shape), std=self.std.expand(action.shape))
        return torch.clamp(action + noise, self.low.expand_as(action), self.high.expand_as(action))


def make_noisy_actor(actor: TensorDictSequential, std: float) -> TensorDictModule:
    """The collector's policy: :class:`NoisyActor` reading ``observation`` and writing ``action``."""
    return TensorDictModule(NoisyActor(actor, std), in_keys=["observation"], out_keys=["action"])
