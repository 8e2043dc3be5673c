"""The objectives in TorchRL's own configuration system (``torchrl.trainers.algorithms.configs``).

Importing this module registers, in Hydra's ``ConfigStore`` beside TorchRL's own entries:

- ``loss``: ``gild``, ``il``, ``meta_critic`` (:class:`GILDLossConfig`, ...): a TorchRL base loss
  config under ``base_loss`` (``- loss@loss.base_loss: td3``), the objective's options, and the
  demonstrations by path and format, or the set bundled with ``task``;
- ``env``: ``sparse_gym``, TorchRL's Gym env config that also knows the sparse tasks
  (``SparseHopper-v5``, ...);
- ``optimization_stepper``: ``gild`` (:class:`~gild_torchrl.trainers.hooks.GILDOptimizationStepper`);
- ``target_net_updater``: ``soft_on_actor_updates``
  (:class:`~gild_torchrl.trainers.hooks.ActorStepSoftUpdate`).

:func:`register_configs` does the same again (for a store that was cleared). A script launched
as TorchRL's config-driven recipes are imports this module next to
``torchrl.trainers.algorithms.configs`` and calls ``instantiate_trainer(cfg)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from hydra.core.config_store import ConfigStore
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torchrl.trainers.algorithms.configs import GymEnvConfig, LossConfig, SoftUpdateConfig
from torchrl.trainers.algorithms.configs.envs_libs import make_gym_env

from gild_torchrl.objectives import GILDLoss, ILLoss, MetaCriticLoss


@dataclass
class _DropInLossConfig(LossConfig):
    """What the three objectives' configs share: the base loss, the schedule and the drop-in draws.

    The trainers give a partial loss its networks (``TD3Trainer``: ``actor_network``,
    ``qvalue_network``, ``action_spec``; ``SACTrainer``: ``actor_network``, ``critic_network``);
    they are handed to the base loss. Nested configs are built by the loss's builder
    (``_recursive_=false``) so that the base loss gets them.
    """

    base_loss: Any = None
    actor_network: Any = None
    qvalue_network: Any = None
    critic_network: Any = None
    action_spec: Any = None
    policy_delay: int | None = None
    warm_start: Any = None
    total_updates: int | None = None
    fast_path: bool = True
    demonstrations: str | None = None
    demo_format: str = "auto"
    task: str | None = None
    bundled_kind: str | None = None
    trust_pickle: bool = False
    demo_batch_size: int = 256
    validation_source: str = "replay_buffer"
    seed: int | None = None
    observation_dim: int | None = None  # the task's sizes: the numpy and pickle readers need them
    action_dim: int | None = None
    _recursive_: bool = False


@dataclass
class _MetaLossConfig(_DropInLossConfig):
    lookahead_lr: float = 3e-4
    meta_objective: str = "tanh_diff"
    meta_start: str = "immediately"
    diagnostics_interval: int = 100


@dataclass
class GILDLossConfig(_MetaLossConfig):
    """:class:`~gild_torchrl.objectives.GILDLoss`: the paper's warm start is 1% of ``total_updates``."""

    init: str = "random"
    bc_fit_steps: int = 2000
    bc_action_margin: float = 1e-3
    _target_: str = "gild_torchrl.trainers.configs.make_gild_loss"


@dataclass
class MetaCriticLossConfig(_MetaLossConfig):
    """:class:`~gild_torchrl.objectives.MetaCriticLoss` (no demonstrations)."""

    _target_: str = "gild_torchrl.trainers.configs.make_meta_critic_loss"


@dataclass
class ILLossConfig(_DropInLossConfig):
    """:class:`~gild_torchrl.objectives.ILLoss`: behaviour cloning added to the actor loss."""

    bc_coeff: float = 1.0
    bc_action_margin: float = 1e-3
    validation_source: str = "batch"  # IL has no meta-objective
    _target_: str = "gild_torchrl.trainers.configs.make_il_loss"


@dataclass
class SparseGymEnvConfig(GymEnvConfig):
    """TorchRL's ``GymEnvConfig`` for the sparse tasks too (``env_name: SparseHopper-v5``)."""

    _target_: str = "gild_torchrl.trainers.configs.make_sparse_gym_env"


@dataclass
class GILDOptimizationStepperConfig:
    """:class:`~gild_torchrl.trainers.hooks.GILDOptimizationStepper`: the recipes' optimisers and update."""

    lr: float = 3e-4
    meta_lr: float = 1e-4
    meta_weight_decay: float = 1e-4
    meta_weight_decay_kind: str = "coupled"
    log_diagnostics: bool = True
    _target_: str = "gild_torchrl.trainers.hooks.GILDOptimizationStepper"


@dataclass
class ActorStepSoftUpdateConfig(SoftUpdateConfig):
    """:class:`~gild_torchrl.trainers.hooks.ActorStepSoftUpdate`: the targets move with the actor."""

    tau: float | None = 0.005
    _target_: str = "gild_torchrl.trainers.hooks.ActorStepSoftUpdate"


def make_sparse_gym_env(env_name: str, **kwargs: Any):
    """TorchRL's ``make_gym_env`` once the sparse tasks are registered with Gymnasium."""
    import gild_torchrl.envs  # noqa: F401  registers SparseHopper-v5 and the others

    return make_gym_env(env_name, **kwargs)


def _built(node: Any, **kwargs: Any) -> Any:
    """A config node instantiated (with ``kwargs``), a partial called with them, anything else as it is."""
    if isinstance(node, DictConfig):  # objects cannot enter a config: instantiate a partial, then call it
        node = instantiate(node, _partial_=bool(kwargs))
    if kwargs and callable(node) and not isinstance(node, torch.nn.Module):
        return node(**kwargs)
    return node


def _base_loss(base_loss: Any, actor_network: Any, qvalue_network: Any, critic_network: Any, action_spec: Any):
    """The TorchRL base loss over the networks the trainer (or the config) gives."""
    if base_loss is None:
        raise ValueError("base_loss=None; expected a TorchRL loss config (e.g. '- loss@loss.base_loss: td3' in the defaults).")
    critic = qvalue_network if qvalue_network is not None else critic_network  # SACTrainer says critic_network
    networks = {key: _built(value) for key, value in (("actor_network", actor_network), ("qvalue_network", critic))
                if value is not None}
    if action_spec is not None:
        networks["action_spec"] = action_spec
    return _built(base_loss, **networks)


def _demonstrations(demonstrations: str | None, task: str | None, demo_format: str, bundled_kind: str | None,
                    trust_pickle: bool, observation_dim: int | None = None, action_dim: int | None = None):
    """The demonstration set by path and format, or the one bundled with ``task``; None when neither is given."""
    if demonstrations is None and task is None:
        return None
    from gild_torchrl.data import open_demonstrations

    return open_demonstrations(demonstrations, task=task or "unknown", format=demo_format, bundled_kind=bundled_kind,
                               trust_pickle=trust_pickle, obs_dim=observation_dim, act_dim=action_dim)


def _sizes(base, demos, observation_dim: int | None, action_dim: int | None) -> dict[str, int]:
    """The learned loss network's input sizes: given, else read from the demonstrations or the actor's first layer."""
    linears = [m for m in base.actor_network.modules() if isinstance(m, torch.nn.Linear)]
    if demos is not None and linears and demos.obs_dim != linears[0].in_features:
        raise ValueError(f"The demonstrations' observations have {demos.obs_dim} entries; the actor expects "
                         f"{linears[0].in_features} (demonstrations of another task?).")
    if observation_dim is None and demos is not None:
        observation_dim = demos.obs_dim
    if action_dim is None and demos is not None:
        action_dim = int(demos.data.get("action").shape[-1])
    if observation_dim is None and linears:
        observation_dim = linears[0].in_features
    if action_dim is None and getattr(base, "_action_spec", None) is not None:
        action_dim = base._action_spec.shape[-1]
    if observation_dim is None or action_dim is None:
        raise ValueError(f"observation_dim={observation_dim} and action_dim={action_dim}; expected both, given "
                         f"or read from the demonstrations, so that the learned loss network can be built.")
    return {"observation_dim": int(observation_dim), "action_dim": int(action_dim)}


def _drop_in_options(options: dict[str, Any], demos) -> dict[str, Any]:
    """The loss's own options as the config gives them, plus the opened demonstration set."""
    return {"demonstrations": demos, **options}


def make_gild_loss(*, base_loss: Any = None, actor_network: Any = None, qvalue_network: Any = None,
                   critic_network: Any = None, action_spec: Any = None, demonstrations: str | None = None,
                   demo_format: str = "auto", task: str | None = None, bundled_kind: str | None = None,
                   trust_pickle: bool = False, observation_dim: int | None = None, action_dim: int | None = None,
                   init: str = "random", bc_fit_steps: int = 2000, **options: Any) -> GILDLoss:
    """:class:`GILDLossConfig`'s builder: the base loss, the demonstrations, then GILD (fitted to BC for ``init=bc``)."""
    demos = _demonstrations(demonstrations, task, demo_format, bundled_kind, trust_pickle, observation_dim, action_dim)
    if demos is None:
        raise ValueError("demonstrations=None and task=None; GILD needs a demonstration set (a path, or a task with a bundled set).")
    base = _base_loss(base_loss, actor_network, qvalue_network, critic_network, action_spec)
    loss = GILDLoss(base, init=init, bc_fit_steps=bc_fit_steps, **_sizes(base, demos, observation_dim, action_dim),
                    **_drop_in_options(options, demos))
    loss.prepare(demos)
    return loss


def make_il_loss(*, base_loss: Any = None, actor_network: Any = None, qvalue_network: Any = None,
                 critic_network: Any = None, action_spec: Any = None, demonstrations: str | None = None,
                 demo_format: str = "auto", task: str | None = None, bundled_kind: str | None = None,
                 trust_pickle: bool = False, observation_dim: int | None = None, action_dim: int | None = None,
                 **options: Any) -> ILLoss:
    """:class:`ILLossConfig`'s builder."""
    demos = _demonstrations(demonstrations, task, demo_format, bundled_kind, trust_pickle, observation_dim, action_dim)
    if demos is None:
        raise ValueError("demonstrations=None and task=None; IL needs a demonstration set (a path, or a task with a bundled set).")
    base = _base_loss(base_loss, actor_network, qvalue_network, critic_network, action_spec)
    return ILLoss(base, **_drop_in_options(options, demos))


def make_meta_critic_loss(*, base_loss: Any = None, actor_network: Any = None, qvalue_network: Any = None,
                          critic_network: Any = None, action_spec: Any = None, demonstrations: str | None = None,
                          demo_format: str = "auto", task: str | None = None, bundled_kind: str | None = None,
                          trust_pickle: bool = False, observation_dim: int | None = None, action_dim: int | None = None,
                          **options: Any) -> MetaCriticLoss:
    """:class:`MetaCriticLossConfig`'s builder (Meta-Critic trains on no demonstrations: a set, if given, only sizes its network)."""
    base = _base_loss(base_loss, actor_network, qvalue_network, critic_network, action_spec)
    demos = _demonstrations(demonstrations, task, demo_format, bundled_kind, trust_pickle, observation_dim, action_dim)
    return MetaCriticLoss(base, **_sizes(base, demos, observation_dim, action_dim), **_drop_in_options(options, demos))


def updates_after_random_phase(total_frames: int, init_random_frames: int) -> int:
    """The recipes' ``total_updates``: one update per frame collected after the random phase (the
    ``${gild_updates:...}`` resolver, so that a fractional ``warm_start`` follows the budget)."""
    return max(1, int(total_frames) - int(init_random_frames))


def register_configs(store: ConfigStore | None = None) -> None:
    """Store the objectives' configs (and the env, stepper and target updater ones) in Hydra's
    ``ConfigStore``, and the ``gild_updates`` resolver."""
    OmegaConf.register_new_resolver("gild_updates", updates_after_random_phase, replace=True)
    cs = store or ConfigStore.instance()
    cs.store(group="loss", name="gild", node=GILDLossConfig)
    cs.store(group="loss", name="il", node=ILLossConfig)
    cs.store(group="loss", name="meta_critic", node=MetaCriticLossConfig)
    cs.store(group="env", name="sparse_gym", node=SparseGymEnvConfig)
    cs.store(group="optimization_stepper", name="gild", node=GILDOptimizationStepperConfig)
    cs.store(group="target_net_updater", name="soft_on_actor_updates", node=ActorStepSoftUpdateConfig)


register_configs()
