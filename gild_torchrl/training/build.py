"""The run's parts, each built from the config by one ``make_*`` function (TorchRL's sota style)."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from tensordict import TensorDictBase
from torchrl.collectors import Collector
from torchrl.data import LazyTensorStorage, TensorDictReplayBuffer
from torchrl.envs import EnvBase

from gild_torchrl.algorithms import get_algorithm, make_base_loss
from gild_torchrl.data import (DemonstrationError, Demonstrations, MissingDemonstrationError, mix, negate_actions, open_demonstrations,
                               subsample_episodes, with_action_noise)
from gild_torchrl.envs import make_env
from gild_torchrl.tasks import POINTNAV_NAMES, base_task_id
from gild_torchrl.modules import make_stochastic_actor
from gild_torchrl.modules.behaviour_policy import fit_behaviour_policy
from gild_torchrl.modules.exploration import make_noisy_actor
from gild_torchrl.objectives import BaseLossWrapper, ForeachSoftUpdate, ObjectiveInputs, get_objective
from gild_torchrl.optim import make_adam, make_meta_optimizer
from gild_torchrl.training.config import ConfigError, policy_delay, total_updates, warm_start_setting
from gild_torchrl.training.run_dir import BEHAVIOUR_POLICY_FILE

#: Seeds of the evaluation env are this far from the training env's, so the two never share a stream.
EVAL_SEED_OFFSET = 10_000


# ====================================================================
# Environments, collector, replay buffer
# --------------------------------------


def make_environment(cfg: DictConfig) -> tuple[EnvBase, EnvBase]:
    """The training env (the sparse task unless ``env.sparse=false``) and the evaluation env (always
    the dense task: the spec trains sparse and evaluates dense), seeded from ``env.seed``."""
    env = cfg.env
    try:
        train_env = make_env(env.name, sparse=bool(env.sparse), seed=int(env.seed), threshold=env.threshold)
        eval_env = make_env(env.name, sparse=False, seed=int(env.seed) + EVAL_SEED_OFFSET, threshold=env.threshold)
    except ValueError as err:
        raise ConfigError(f"env.name={env.name!r}: {err}") from None
    return train_env, eval_env


def make_evaluation_envs(cfg: DictConfig, eval_env: EnvBase) -> list[EnvBase]:
    """The envs an evaluation steps together, one per episode (``eval.episodes``): ``eval_env``
    and copies of it seeded ``EVAL_SEED_OFFSET`` apart, so that each episode's starts are those of
    its own seed at every evaluation. PointNav's env is already batched: ``[eval_env]``."""
    if cfg.env.name in POINTNAV_NAMES or int(cfg.eval.episodes) <= 1:
        return [eval_env]
    env, seed = cfg.env, int(cfg.env.seed)
    return [eval_env] + [make_env(env.name, sparse=False, seed=seed + EVAL_SEED_OFFSET * (1 + i), threshold=env.threshold)
                         for i in range(1, int(cfg.eval.episodes))]


def make_collector(cfg: DictConfig, train_env: EnvBase, policy, collected_frames: int = 0) -> Collector:
    """TorchRL's single-process Collector for what is left of the budget after ``collected_frames``
    (uniform random actions for what is left of ``collector.init_random_frames``)."""
    c = cfg.collector
    fpb = int(c.frames_per_batch)
    remaining = max(int(c.total_frames) - collected_frames, fpb)
    collector = Collector(
        train_env,
        policy,
        frames_per_batch=fpb,
        total_frames=-(-remaining // fpb) * fpb,
        init_random_frames=max(int(c.init_random_frames) - collected_frames, 0),
        device=c.device or None,  # None: CPU TensorDicts that name no device, as the env's (cheaper per frame)
        reset_at_each_iter=False,
        auto_register_policy_transforms=False,  # the MLP policies need no InitTracker (torchrl 0.14 warns otherwise)
    )
    if collected_frames == 0:
        collector.set_seed(int(cfg.env.seed))
    return collector


def make_replay_buffer(cfg: DictConfig) -> TensorDictReplayBuffer:
    """A uniform replay buffer in memory, sized ``replay_buffer.size`` (at most the run's frames)."""
    capacity = min(int(cfg.replay_buffer.size), int(cfg.collector.total_frames))
    return TensorDictReplayBuffer(storage=LazyTensorStorage(capacity, device="cpu"),
                                  batch_size=int(cfg.replay_buffer.batch_size))


# ====================================================================
# Demonstrations
# --------------


def make_demonstrations(cfg: DictConfig, env: EnvBase) -> Demonstrations:
    """The demonstration set of ``cfg.demos`` (any format :func:`gild_torchrl.data.open_demonstrations`
    reads; ``demos.path: null`` takes the set bundled for ``env.name``), transformed, validated against the task."""
    d = cfg.demos
    demos = open_demonstrations(
        d.path, task=cfg.env.name, format=d.format, obs_dim=env.observation_spec["observation"].shape[-1],
        act_dim=env.action_spec.shape[-1], trust_pickle=bool(d.trust_pickle),
        pointnav_episodes=int(d.pointnav_episodes), pointnav_seed=int(d.pointnav_seed),
        bundled_kind=d.get("bundled_kind"),
    )
    check_recorded_task(cfg, demos)
    return transform_demonstrations(cfg, env, demos).validate_for_env(env, task=cfg.env.name)


def check_recorded_task(cfg: DictConfig, demos: Demonstrations) -> None:
    """Refuse a set recorded for another task unless ``demos.allow_other_task``: tasks of the same
    widths (HalfCheetah's and Walker2d's 17 and 6) would otherwise pass every shape check. Refused
    rather than warned, because a run on the wrong demonstrations is not noticed until its results are read."""
    recorded = demos.task
    if recorded is None or cfg.demos.get("allow_other_task", False):
        return
    same = {recorded, cfg.env.name} <= set(POINTNAV_NAMES) or base_task_id(recorded) == base_task_id(cfg.env.name)
    if not same:
        raise DemonstrationError(f"demos.path={cfg.demos.path!r} holds demonstrations recorded for task {recorded!r}, "
                                 f"not env.name={cfg.env.name!r}; give a set of {cfg.env.name}, or pass "
                                 f"demos.allow_other_task=true to train on it anyway.")


def transform_demonstrations(cfg: DictConfig, env: EnvBase, demos: Demonstrations) -> Demonstrations:
    """``demos.mix_with`` (a second set, any format), ``demos.episodes``, ``demos.action_noise``,
    ``demos.negate_actions``, in that order, seeded by ``demos.transform_seed`` (see gild_torchrl.data.transforms)."""
    d = cfg.demos
    if d.mix_with:
        plain = {"path": d.mix_with, "format": "auto", "bundled_kind": None, "mix_with": None, "episodes": None, "action_noise": 0.0,
                 "negate_actions": False}
        demos = mix(demos, make_demonstrations(OmegaConf.merge(cfg, {"demos": plain}), env))
    if d.episodes:
        demos = subsample_episodes(demos, int(d.episodes), seed=d.transform_seed)
    if d.action_noise:
        space = env.action_spec_unbatched.space
        demos = with_action_noise(demos, float(d.action_noise), space.low.tolist(), space.high.tolist(),
                                  seed=d.transform_seed)
    if d.negate_actions:
        demos = negate_actions(demos)
    return demos


def make_reference_demonstrations(cfg: DictConfig, env: EnvBase) -> Demonstrations | None:
    """The task's demonstrations for objectives that do not train on them (rl, meta_critic).

    They give every run the same divergence measurement and the demonstrator's return; a task
    with no bundled set and no ``demos.path`` has neither (None).
    """
    try:
        return make_demonstrations(cfg, env)
    except MissingDemonstrationError:
        if cfg.demos.path is not None or cfg.demos.get("bundled_kind"):
            raise  # a set the user named must exist
        return None


def make_divergence_batch(cfg: DictConfig, demos: Demonstrations | None) -> TensorDictBase | None:
    """A fixed subset of the demonstrations on which each evaluation measures the actor's divergence."""
    rows = int(cfg.eval.divergence_rows)
    if demos is None or rows <= 0:
        return None
    order = torch.randperm(len(demos), generator=torch.Generator().manual_seed(0))[:rows]
    return demos.data[order].select("observation", "action").apply(lambda x: x.to(torch.float32))


def make_behaviour_policy(cfg: DictConfig, env: EnvBase, demos: Demonstrations | None, run_dir: Path):
    """``eval.behaviour_kl=true``: a TanhNormal policy of the actor's architecture fitted once to the
    demonstrations by maximum likelihood (``eval.behaviour_fit_steps`` Adam steps), stored in
    ``run_dir/behaviour_policy.pt`` and read back from there when the run resumes; else None."""
    if not cfg.eval.behaviour_kl:
        return None
    if demos is None:
        raise ConfigError(f"eval.behaviour_kl=true needs demonstrations to fit the behaviour policy to; env.name="
                          f"{cfg.env.name!r} has no bundled set, so give demos.path.")
    spec, obs_dim = env.action_spec_unbatched, env.observation_spec["observation"].shape[-1]
    path = run_dir / BEHAVIOUR_POLICY_FILE
    if path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=False)
        policy = make_stochastic_actor(obs_dim, spec, state["num_cells"])
        policy.load_state_dict(state["policy"])
        return policy.requires_grad_(False)
    num_cells = list(cfg.network.hidden_sizes)
    policy, metrics = fit_behaviour_policy(demos.data.select("observation", "action"), spec, num_cells,
                                           steps=int(cfg.eval.behaviour_fit_steps), seed=int(cfg.seed))
    torch.save({"policy": policy.state_dict(), "num_cells": num_cells, "rows": len(demos), **metrics}, path)
    return policy


# ====================================================================
# Loss, policies and optimisers
# -----------------------------


def make_loss_module(cfg: DictConfig, env: EnvBase, demos: Demonstrations | None) -> BaseLossWrapper:
    """TorchRL's own loss for ``cfg.algorithm`` wrapped by the objective ``cfg.loss.objective``,
    prepared for training (GILD's BC fit with ``loss.gild_init=bc``)."""
    obs_dim = env.observation_spec["observation"].shape[-1]
    action_spec = env.action_spec_unbatched
    algorithm = get_algorithm(cfg.algorithm)
    base = make_base_loss(cfg.algorithm, obs_dim, action_spec, num_cells=tuple(cfg.network.hidden_sizes),
                          gamma=cfg.optim.gamma, **algorithm.options(cfg))
    objective = get_objective(cfg.loss.objective)
    schedule = {"warm_start": warm_start_setting(cfg), "total_updates": total_updates(cfg),
                "policy_delay": policy_delay(cfg)}
    options = OmegaConf.to_container(cfg.loss, resolve=True)
    loss = objective.make(ObjectiveInputs(base, obs_dim, action_spec.shape[-1], schedule, options))
    loss.prepare(demos)
    return loss


def make_target_updater(cfg: DictConfig, loss_module: BaseLossWrapper) -> ForeachSoftUpdate:
    """TorchRL's soft target update (tau = ``optim.tau``) of the base loss's target networks, as one fused lerp."""
    return ForeachSoftUpdate(loss_module, tau=cfg.optim.tau)


def make_exploration_policy(cfg: DictConfig, loss_module: BaseLossWrapper, env: EnvBase):
    """The collector's policy: a stochastic actor samples its own (SAC); a deterministic one gets N(0, 0.1) added."""
    actor = loss_module.base_loss.actor_network
    if get_algorithm(cfg.algorithm).stochastic_actor:
        return actor
    return make_noisy_actor(actor, std=float(cfg.network.exploration_std))


def make_optimizers(cfg: DictConfig, loss_module: BaseLossWrapper) -> dict[str, torch.optim.Optimizer]:
    """Adam (3e-4) for each of the algorithm's parameter groups (actor, critic, SAC's tuned temperature),
    and one for each parameter group the objective adds (GILD's and Meta-Critic's meta network: "meta"):
    the paper's Adam(1e-4) with a coupled weight decay of 1e-4 by default (``optim.meta_weight_decay_kind``: coupled | decoupled | none)."""
    groups = get_algorithm(cfg.algorithm).parameter_groups(loss_module.base_loss)
    optimizers = {name: make_adam(params, lr=cfg.optim.lr) for name, params in groups.items()}
    for name, params in loss_module.extra_parameter_groups().items():
        optimizers[name] = make_meta_optimizer(params, lr=cfg.optim.meta_lr, weight_decay=cfg.optim.meta_weight_decay,
                                               decay=cfg.optim.meta_weight_decay_kind)
    return optimizers
