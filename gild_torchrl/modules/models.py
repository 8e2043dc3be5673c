"""The paper's networks built from TorchRL parts (the base losses over them: :mod:`gild_torchrl.algorithms`).

256-256 ReLU actor and critics (spec, "Default hyperparameters"); a Tanh-squashed
deterministic actor for DDPG and TD3, a TanhNormal actor for SAC, twin Q critics for TD3
and SAC and a single one for DDPG.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tensordict.nn import NormalParamExtractor, TensorDictModule, TensorDictSequential
from torch import nn
from torchrl.data import Bounded
from torchrl.modules import MLP, ProbabilisticActor, TanhModule, TanhNormal, ValueOperator


def make_action_spec(action_dim: int, low: float = -1.0, high: float = 1.0) -> Bounded:
    return Bounded(low=low, high=high, shape=(action_dim,), dtype=torch.float32)


def make_deterministic_actor(
    observation_dim: int, action_spec: Bounded, num_cells: Sequence[int] = (256, 256)
) -> TensorDictSequential:
    """pi(s) = tanh-squashed MLP output, rescaled to the action bounds."""
    mlp = MLP(observation_dim, action_spec.shape[-1], num_cells=list(num_cells), activation_class=nn.ReLU)
    return TensorDictSequential(
        TensorDictModule(mlp, in_keys=["observation"], out_keys=["param"]),
        TanhModule(in_keys=["param"], out_keys=["action"], spec=action_spec),
    )


def make_stochastic_actor(
    observation_dim: int, action_spec: Bounded, num_cells: Sequence[int] = (256, 256)
) -> ProbabilisticActor:
    """A TanhNormal policy over the action bounds (SAC)."""
    mlp = MLP(observation_dim, 2 * action_spec.shape[-1], num_cells=list(num_cells), activation_class=nn.ReLU)
    module = TensorDictModule(
        nn.Sequential(mlp, NormalParamExtractor()), in_keys=["observation"], out_keys=["loc", "scale"]
    )
    return ProbabilisticActor(
        module,
        in_keys=["loc", "scale"],
        spec=action_spec,
        distribution_class=TanhNormal,
        distribution_kwargs={"low": action_spec.space.low, "high": action_spec.space.high},
        return_log_prob=False,
    )


def make_qvalue(observation_dim: int, action_dim: int, num_cells: Sequence[int] = (256, 256)) -> ValueOperator:
    """Q(s, a): an MLP on the concatenated state and action (TorchRL's MLP concatenates its inputs)."""
    mlp = MLP(observation_dim + action_dim, 1, num_cells=list(num_cells), activation_class=nn.ReLU)
    return ValueOperator(mlp, in_keys=["observation", "action"])
