"""What the three GILD recipes share: the experiment's parts (``make_*``) and its training loop.

The recipes ``td3_gild.py``, ``ddpg_gild.py`` and ``sac_gild.py`` differ only in the base
algorithm (``cfg.algorithm``); everything else is here once. The loop is the paper's: collect
with the exploration policy, store in the replay buffer, and after the random phase run one
update per collected frame on a replay batch, a demonstration batch and validation states,
with GILD (or a baseline) for its warm start and plain RL afterwards. Environments, collector,
replay buffer and evaluation come from ``utils.py``, checkpoints from ``run_checkpoint.py``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import shutil
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tensordict import TensorDictBase
from tensordict.nn import TensorDictSequential
from torch.utils.tensorboard import SummaryWriter
from torchrl.modules import AdditiveGaussianModule
from torchrl.objectives import SoftUpdate
from torchrl.record.loggers.tensorboard import TensorboardLogger
from tqdm import tqdm

from gild_torchrl.analysis.runs import EVAL_FILE, RESULT_FILE, RUN_FILE
from gild_torchrl.data import (DemonstrationError, Demonstrations, MissingDemonstrationError, bundled, mix, negate_actions,
                               subsample_episodes, with_action_noise)
from gild_torchrl.envs import POINTNAV_NAMES, pointnav_demonstrations
from gild_torchrl.envs.sparse import base_task_id
from gild_torchrl.modules import ALGORITHMS, make_base_loss
from gild_torchrl.objectives import BaseLossWrapper, ForeachSoftUpdate, GILDLoss, ILLoss, MetaCriticLoss, make_batch
from gild_torchrl.objectives.lookahead import META_STARTS, MetaLookaheadLoss
from gild_torchrl.optim import WEIGHT_DECAY_KINDS, make_adam, make_meta_optimizer

import run_checkpoint
from utils import evaluate, make_collector, make_environment, make_replay_buffer

OBJECTIVES = ("gild", "il", "meta_critic", "rl")
DEMO_FORMATS = ("auto", "directory", "numpy", "pickle", "minari", "replay_buffer")
#: The paper's default warm start per objective: 1% for GILD; RL+IL and Meta-Critic run the whole way.
DEFAULT_WARM_START = {"gild": 0.01, "il": None, "meta_critic": None, "rl": None}
#: The paper's warm start: 1% of its 1e6 gradient updates (``loss.warm_start=paper``).
PAPER_WARM_START_UPDATES = 10_000
#: The meta-objective's states: a second replay batch (the spec), the replay batch's own, the demo batch's.
VALIDATION_BATCHES = (True, False, "demo")
#: SAC's temperature is fixed at 0.2 on Hopper and HalfCheetah, tuned on Walker2d and Ant (spec).
SAC_TUNED_ALPHA_TASKS = ("Walker2d-v5", "Ant-v5")
#: Entries of the base losses' own outputs, logged under train/ beside the losses.
BASE_METADATA = ("alpha", "entropy", "state_action_value_actor", "pred_value", "next_state_value", "target_value",
                 "target_value_max", "pred_value_max")


class ConfigError(ValueError):
    """A configuration value the recipe cannot run with."""


# ``run_dir`` is the resumed run's directory when ``resume`` is set (config/gild_defaults.yaml).
OmegaConf.register_new_resolver("run_dir_or", lambda resume, default: resume or default, replace=True)


# ====================================================================
# Checking the configuration before anything runs
# ------------------------------------------------


def check_config(cfg: DictConfig) -> None:
    """One clear error for each bad value, before any environment or network is built."""
    if cfg.algorithm not in ALGORITHMS:
        raise ConfigError(f"algorithm={cfg.algorithm!r}; expected one of {ALGORITHMS}.")
    if cfg.loss.objective not in OBJECTIVES:
        raise ConfigError(f"loss.objective={cfg.loss.objective!r}; expected one of {OBJECTIVES}.")
    if cfg.loss.meta_start not in META_STARTS:
        raise ConfigError(f"loss.meta_start={cfg.loss.meta_start!r}; expected one of {META_STARTS}.")
    if cfg.optim.meta_weight_decay_kind not in WEIGHT_DECAY_KINDS:
        raise ConfigError(f"optim.meta_weight_decay_kind={cfg.optim.meta_weight_decay_kind!r}; expected one of {WEIGHT_DECAY_KINDS}.")
    if cfg.demos.format not in DEMO_FORMATS:
        raise ConfigError(f"demos.format={cfg.demos.format!r}; expected one of {DEMO_FORMATS}.")
    for key in ("collector.total_frames", "collector.frames_per_batch", "replay_buffer.batch_size", "loss.bc_fit_steps",
                "replay_buffer.size", "demos.batch_size", "eval.interval", "eval.episodes"):
        value = OmegaConf.select(cfg, key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{key}={value!r}; expected a positive integer.")
    if not isinstance(cfg.collector.init_random_frames, int) or cfg.collector.init_random_frames < 0:
        raise ConfigError(f"collector.init_random_frames={cfg.collector.init_random_frames!r}; expected an integer >= 0.")
    if not cfg.optim.utd_ratio > 0:
        raise ConfigError(f"optim.utd_ratio={cfg.optim.utd_ratio!r}; expected a positive number.")
    if cfg.loss.validation_batch not in VALIDATION_BATCHES:
        raise ConfigError(f"loss.validation_batch={cfg.loss.validation_batch!r}; expected one of {VALIDATION_BATCHES}.")
    if cfg.loss.validation_batch == "demo" and cfg.loss.objective != "gild":
        raise ConfigError(f"loss.validation_batch='demo' needs demonstrations in the meta-objective; expected loss.objective=gild, got {cfg.loss.objective!r}.")
    warm_start = cfg.loss.warm_start
    if warm_start not in (None, "auto", "paper") and (isinstance(warm_start, bool) or not isinstance(warm_start, (int, float))):
        raise ConfigError(f"loss.warm_start={warm_start!r}; expected 'auto', 'paper', null, an int (actor updates) or a fraction.")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ====================================================================
# Demonstrations
# --------------


def make_demonstrations(cfg: DictConfig, env) -> Demonstrations:
    """The demonstration set of ``cfg.demos``, validated against the task's specs.

    ``demos.path: null`` takes the set bundled with the package for ``env.name`` (PointNav's are
    generated by its scripted detour demonstrator). Otherwise ``demos.format`` (``auto`` guesses
    from the path) picks the reader: a saved ``Demonstrations`` directory, ``.npz``/``.npy``
    (``[s | a]`` columns or named arrays), a pickle (only with ``demos.trust_pickle=true``), a
    Minari dataset (id or path) or a TorchRL replay-buffer dump.
    """
    name = cfg.env.name
    obs_dim = env.observation_spec["observation"].shape[-1]
    act_dim = env.action_spec.shape[-1]
    path, fmt = cfg.demos.path, cfg.demos.format
    if path is None:
        if name in POINTNAV_NAMES:
            demos = pointnav_demonstrations(num_episodes=cfg.demos.pointnav_episodes, seed=cfg.demos.pointnav_seed)
        else:
            demos = Demonstrations.load(bundled(name))
    else:
        path = Path(os.path.expanduser(str(path)))
        if fmt == "auto":
            fmt = _guess_format(path)
        if fmt == "directory":
            demos = Demonstrations.load(path)
        elif fmt == "numpy":
            demos = Demonstrations.from_numpy(path, obs_dim=obs_dim, act_dim=act_dim, task=name)
        elif fmt == "pickle":
            demos = Demonstrations.from_pickle(path, obs_dim=obs_dim, act_dim=act_dim, task=name, trust=cfg.demos.trust_pickle)
        elif fmt == "minari":
            demos = Demonstrations.from_minari(path if path.exists() else str(cfg.demos.path), task=name)
        else:
            demos = Demonstrations.from_replay_buffer(path, task=name)
    return transform_demonstrations(cfg, env, demos).validate_for_env(env, task=name)


def transform_demonstrations(cfg: DictConfig, env, demos: Demonstrations) -> Demonstrations:
    """``demos.mix_with`` (a second set, any format), ``demos.episodes``, ``demos.action_noise``,
    ``demos.negate_actions``, in that order, seeded by ``demos.transform_seed`` (see gild_torchrl.data.transforms)."""
    seed = cfg.demos.transform_seed
    if cfg.demos.mix_with:
        second = make_demonstrations(OmegaConf.merge(cfg, {"demos": {"path": cfg.demos.mix_with, "format": "auto",
                                                                     "mix_with": None, "episodes": None,
                                                                     "action_noise": 0.0, "negate_actions": False}}), env)
        demos = mix(demos, second)
    if cfg.demos.episodes:
        demos = subsample_episodes(demos, int(cfg.demos.episodes), seed=seed)
    if cfg.demos.action_noise:
        spec = env.action_spec_unbatched
        demos = with_action_noise(demos, float(cfg.demos.action_noise), spec.space.low.tolist(), spec.space.high.tolist(), seed=seed)
    if cfg.demos.negate_actions:
        demos = negate_actions(demos)
    return demos


def make_reference_demonstrations(cfg: DictConfig, env) -> Demonstrations | None:
    """The task's demonstrations for objectives that do not train on them (rl, meta_critic).

    They give every run the same divergence measurement and the demonstrator's return; a task
    with no bundled set and no ``demos.path`` has neither (None).
    """
    try:
        return make_demonstrations(cfg, env)
    except MissingDemonstrationError:
        if cfg.demos.path is not None:
            raise  # a path the user gave must exist
        return None


def make_divergence_batch(cfg: DictConfig, demos: Demonstrations | None) -> TensorDictBase | None:
    """A fixed subset of the demonstrations on which each evaluation measures the actor's divergence."""
    rows = int(cfg.eval.divergence_rows)
    if demos is None or rows <= 0:
        return None
    order = torch.randperm(len(demos), generator=torch.Generator().manual_seed(0))[:rows]
    return demos.data[order].select("observation", "action").apply(lambda x: x.to(torch.float32))


def _guess_format(path: Path) -> str:
    if path.suffix in (".npz", ".npy"):
        return "numpy"
    if path.suffix in (".pkl", ".pickle"):
        return "pickle"
    if path.suffix == ".hdf5" or (path / "data" / "main_data.hdf5").is_file() or (path / "main_data.hdf5").is_file():
        return "minari"
    if (path / "meta.json").is_file():
        return "directory"
    if (path / "storage").is_dir():
        return "replay_buffer"
    if not path.exists():
        raise ConfigError(f"demos.path={str(path)!r} does not exist; expected a demonstration file or directory.")
    raise ConfigError(
        f"demos.path={str(path)!r}: cannot tell its format; set demos.format to one of {DEMO_FORMATS[1:]}."
    )


# ====================================================================
# Loss, policies and optimisers
# -----------------------------


def warm_start_setting(cfg: DictConfig) -> int | float | None:
    """``loss.warm_start`` with ``auto`` replaced by the objective's default and ``paper`` by the
    paper's length: 1e4 gradient updates whatever the run's budget, in actor updates (TD3: 5,000)."""
    warm_start = cfg.loss.warm_start
    if warm_start == "paper":
        return PAPER_WARM_START_UPDATES // policy_delay(cfg)
    return DEFAULT_WARM_START[cfg.loss.objective] if warm_start == "auto" else warm_start


def policy_delay(cfg: DictConfig) -> int:
    """Critic updates per actor update: ``td3.policy_delay`` for TD3, 1 for DDPG and SAC."""
    return cfg.td3.policy_delay if cfg.algorithm == "td3" else 1


def total_updates(cfg: DictConfig) -> int:
    """Gradient updates of the whole run: one per collected frame after the random phase (utd 1)."""
    frames = max(cfg.collector.total_frames - cfg.collector.init_random_frames, 0)
    return max(1, int(frames * cfg.optim.utd_ratio))


def make_loss_module(cfg: DictConfig, env, demos: Demonstrations | None) -> BaseLossWrapper:
    """TorchRL's own loss for ``cfg.algorithm`` wrapped by the objective of ``cfg.loss.objective``."""
    obs_dim = env.observation_spec["observation"].shape[-1]
    action_spec = env.action_spec_unbatched
    fixed_alpha = cfg.sac.fixed_alpha
    if fixed_alpha is None:
        fixed_alpha = base_task_id(cfg.env.name) not in SAC_TUNED_ALPHA_TASKS
    base = make_base_loss(
        cfg.algorithm,
        obs_dim,
        action_spec,
        num_cells=tuple(cfg.network.hidden_sizes),
        gamma=cfg.optim.gamma,
        policy_noise=cfg.td3.policy_noise,
        noise_clip=cfg.td3.noise_clip,
        alpha_init=cfg.sac.alpha_init,
        fixed_alpha=bool(fixed_alpha),
    )
    schedule = {
        "warm_start": warm_start_setting(cfg),
        "total_updates": total_updates(cfg),
        "policy_delay": policy_delay(cfg),
    }
    objective = cfg.loss.objective
    if objective == "rl":
        return BaseLossWrapper(base, policy_delay=schedule["policy_delay"])
    if objective == "il":
        return ILLoss(base, bc_coeff=cfg.loss.bc_coeff, **schedule)
    meta = {
        "lookahead_lr": cfg.loss.lookahead_lr,
        "meta_objective": cfg.loss.meta_objective,
        "meta_start": cfg.loss.meta_start,
        "diagnostics_interval": cfg.loss.diagnostics_interval,
        **schedule,
    }
    dims = {"observation_dim": obs_dim, "action_dim": action_spec.shape[-1]}
    if objective == "meta_critic":
        return MetaCriticLoss(base, **dims, **meta)
    loss = GILDLoss(base, **dims, init=cfg.loss.gild_init, **meta)
    if cfg.loss.gild_init == "bc":
        loss.fit_to_behaviour_cloning(demos.data, steps=cfg.loss.bc_fit_steps)
    return loss


def make_target_updater(cfg: DictConfig, loss_module: BaseLossWrapper) -> ForeachSoftUpdate:
    """TorchRL's soft target update (tau = ``optim.tau``) of the base loss's target networks, as one fused lerp."""
    return ForeachSoftUpdate(loss_module, tau=cfg.optim.tau)


def make_exploration_policy(cfg: DictConfig, loss_module: BaseLossWrapper, env):
    """The collector's policy: DDPG/TD3 add N(0, 0.1) to the actor's action; SAC samples its own."""
    actor = loss_module.base_loss.actor_network
    if cfg.algorithm == "sac":
        return actor
    noise = AdditiveGaussianModule(
        spec=env.action_spec_unbatched, sigma_init=1.0, sigma_end=1.0, mean=0.0, std=cfg.network.exploration_std
    )
    return TensorDictSequential(actor, noise)


def make_optimizers(cfg: DictConfig, loss_module: BaseLossWrapper) -> dict[str, torch.optim.Optimizer]:
    """Adam for the actor and the critic(s) (3e-4); SAC's temperature when tuned; the meta network's.

    The meta network's (GILD or Meta-Critic) is the paper's by default: Adam(1e-4) with a coupled
    weight decay of 1e-4 (``optim.meta_weight_decay_kind``: coupled | decoupled | none).
    """
    base = loss_module.base_loss
    actor = [p for p in base.actor_network_params.values(True, True) if p.requires_grad]
    actor_ids = {id(p) for p in actor}
    critic = [p for n, p in base.named_parameters() if id(p) not in actor_ids and n != "log_alpha"]
    optimizers = {"actor": make_adam(actor, lr=cfg.optim.lr), "critic": make_adam(critic, lr=cfg.optim.lr)}
    log_alpha = getattr(base, "log_alpha", None)
    if isinstance(log_alpha, torch.nn.Parameter):
        optimizers["alpha"] = make_adam([log_alpha], lr=cfg.optim.lr)
    network = getattr(loss_module, "network_params", None)
    if network is not None:
        optimizers["meta"] = make_meta_optimizer(
            network.values(True, True),
            lr=cfg.optim.meta_lr,
            weight_decay=cfg.optim.meta_weight_decay,
            decay=cfg.optim.meta_weight_decay_kind,
        )
    return optimizers


# ====================================================================
# Logging
# -------


class EvaluationCSV:
    """``eval.csv`` beside the TensorBoard events: one row per evaluation, appended as it happens."""

    columns = ("frames", "updates", "wall_time", "dense_return", "sparse_return", "length", "x_final",
               "demo_action_mse", "demo_nll")

    def __init__(self, path: Path, keep_until: int | None = None) -> None:
        """``keep_until``: a resumed run keeps the rows up to its checkpoint's frame count."""
        self.path = path
        rows = []
        if keep_until is not None and path.is_file():
            with path.open(newline="") as f:
                rows = [row for row in csv.DictReader(f) if int(row["frames"]) <= keep_until]
        if keep_until is not None or not path.is_file():
            with path.open("w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(self.columns)
                writer.writerows([row.get(c, "") for c in self.columns] for row in rows)

    def append(self, row: Mapping[str, float]) -> None:
        """Columns a run does not measure (``demo_nll`` of a deterministic actor) stay empty."""
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerow([row.get(c, "") for c in self.columns])


def make_logger(cfg: DictConfig, run_dir: Path, resume_frames: int | None = None) -> TensorboardLogger | None:
    """TorchRL's TensorBoard logger under ``run_dir/tensorboard``, with the resolved config as hparams.

    When a run resumes from a checkpoint at ``resume_frames``, events logged after it (by the run
    that was interrupted) are purged, so the curves continue without gaps or duplicate steps.
    """
    if not cfg.logger.backend:
        return None
    if cfg.logger.backend != "tensorboard":
        raise ConfigError(f"logger.backend={cfg.logger.backend!r}; expected 'tensorboard' or null.")
    logger = TensorboardLogger(exp_name="tensorboard", log_dir=str(run_dir))
    if resume_frames is not None:
        logger.experiment.close()
        logger.experiment = SummaryWriter(log_dir=logger.log_dir, purge_step=resume_frames + 1)
        return logger
    flat = {}
    for key, value in _flatten(OmegaConf.to_container(cfg, resolve=True)).items():
        flat[key] = value if isinstance(value, (int, float, str, bool)) else str(value)
    logger.log_hparams(flat)
    return logger


def _flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def log_scalars(logger: TensorboardLogger | None, values: Mapping[str, Any], step: int) -> None:
    if logger is None:
        return
    for name, value in values.items():
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                continue
            value = value.item()
        logger.log_scalar(name, float(value), step=step)


# ====================================================================
# One update
# ----------


def sample_batch(loss_module: BaseLossWrapper, replay_buffer, demos: Demonstrations | None, cfg: DictConfig) -> TensorDictBase:
    """A replay batch, plus, while the objective guides the actor, a demo batch and validation states."""
    replay = replay_buffer.sample()
    if not (loss_module.guiding and loss_module.next_update_trains_actor):
        return replay
    demo = demos.sample(cfg.demos.batch_size).select("observation", "action") if demos is not None else None
    validation = None
    if isinstance(loss_module, MetaLookaheadLoss):
        if cfg.loss.validation_batch == "demo" and demo is not None:
            validation = demo.select("observation")  # the meta-objective on the demonstrated states
        elif cfg.loss.validation_batch:
            validation = replay_buffer.sample().select("observation")  # the spec's second replay batch
    return make_batch(replay, demo, validation)


def update(
    loss_module,
    optimizers: Mapping[str, torch.optim.Optimizer],
    target_updater: SoftUpdate,
    batch,
    skipped: Counter | None = None,
) -> TensorDictBase:
    """One gradient update: the summed ``loss_*`` entries give every network its own gradient.

    A parameter group whose gradient is not finite (a NaN or inf in a loss or the meta-gradient)
    is not stepped this update, and ``skipped[group]`` counts it, so one bad batch cannot
    corrupt the networks; the other groups step as usual.
    """
    out = loss_module(batch)
    total = sum(value for key, value in out.items() if key.startswith("loss_"))
    for optimizer in optimizers.values():
        optimizer.zero_grad(set_to_none=True)
    total.backward()
    grads = {name: [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
             for name, optimizer in optimizers.items()}
    stepped = [name for name, group in grads.items() if group]  # TD3's delayed actor has none on critic updates
    norms = torch._foreach_norm([g for name in stepped for g in grads[name]])  # inf or nan iff a gradient is
    finite = torch.isfinite(torch.stack(norms)).split([len(grads[name]) for name in stepped]) if norms else []
    for name, group_finite in zip(stepped, finite):
        if not bool(group_finite.all()):
            optimizers[name].zero_grad(set_to_none=True)
            if skipped is not None:
                skipped[name] += 1
            continue
        optimizers[name].step()
    if "loss_actor" in out.keys():
        target_updater.step()
    return out


# ====================================================================
# The run
# -------


def train(cfg: DictConfig) -> dict[str, float]:
    """Run one experiment end to end (or continue it from its checkpoint); returns the last evaluation."""
    check_config(cfg)
    torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    run_dir = Path(cfg.run_dir)
    checkpoint = None
    if cfg.resume:
        checkpoint = run_checkpoint.find(run_dir)
        if checkpoint is None:
            raise ConfigError(f"resume={cfg.resume!r}: {run_dir} holds no complete checkpoint to continue from.")
    else:
        claim_run_dir(run_dir, overwrite=bool(cfg.get("overwrite", False)))
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        train_env, eval_env = make_environment(cfg.env)
    except ValueError as err:
        raise ConfigError(f"env.name={cfg.env.name!r}: {err}") from None
    uses_demos = cfg.loss.objective in ("gild", "il")
    demos = make_demonstrations(cfg, train_env) if uses_demos else None

    reference = demos if demos is not None else make_reference_demonstrations(cfg, train_env)
    divergence_batch = make_divergence_batch(cfg, reference)
    write_run_info(run_dir, cfg, reference)
    loss_module = make_loss_module(cfg, train_env, demos)
    target_updater = make_target_updater(cfg, loss_module)
    optimizers = make_optimizers(cfg, loss_module)
    policy = make_exploration_policy(cfg, loss_module, train_env)
    replay_buffer = make_replay_buffer(cfg.replay_buffer.batch_size, min(cfg.replay_buffer.size, cfg.collector.total_frames))
    progress = {"frames": 0, "updates": 0, "rewarded": 0, "first_reward_frame": None,
                "next_eval": cfg.eval.interval, "next_checkpoint": cfg.checkpoint.interval, "skipped": {}}
    if checkpoint is not None:
        try:
            progress = run_checkpoint.load(checkpoint, cfg, loss_module, optimizers, replay_buffer)
        except ValueError as err:
            raise ConfigError(f"resume={cfg.resume!r}: {err}") from None
    frames = progress["frames"]
    if frames >= cfg.collector.total_frames:
        print(f"{run_dir} already finished at {frames} frames; nothing to resume "
              f"(give a larger collector.total_frames to continue it).")
        return {"frames": frames, "updates": progress["updates"], "wall_time": 0.0}
    if checkpoint is not None:
        (run_dir / RESULT_FILE).unlink(missing_ok=True)  # a finished run continued to a larger budget is unfinished again
    skipped = Counter(progress["skipped"])  # updates not applied to a group because its gradient was not finite
    collector = make_collector(cfg, train_env, policy, collected_frames=frames)
    logger = make_logger(cfg, run_dir, resume_frames=frames if checkpoint is not None else None)
    evaluations = EvaluationCSV(run_dir / EVAL_FILE, keep_until=frames if checkpoint is not None else None)
    if getattr(loss_module, "bc_fit_metrics", None):
        log_scalars(logger, {f"gild/{k}": v for k, v in loss_module.bc_fit_metrics.items()}, step=0)

    start = time.perf_counter()
    earlier_wall_time = float(progress.get("wall_time", 0.0))  # of the launches before a resume
    updates_per_batch = int(cfg.collector.frames_per_batch * cfg.optim.utd_ratio)
    last_eval = {}
    timers = dict.fromkeys(("collect", "sample", "update", "eval", "log", "checkpoint"), 0.0)
    bar = tqdm(total=cfg.collector.total_frames, initial=frames, desc=f"{cfg.algorithm}+{cfg.loss.objective}",
               disable=not cfg.logger.progress_bar, unit="frames", file=sys.stdout, mininterval=2.0)
    diagnostics_per_update = logs_diagnostics_per_update(loss_module)
    tick = time.perf_counter()
    for data in collector:
        timers["collect"] += time.perf_counter() - tick
        tick = time.perf_counter()
        data = data.reshape(-1)
        replay_buffer.extend(data)
        frames += data.numel()
        progress["rewarded"] += int((data.get(("next", "reward")) != 0).sum())
        if progress["rewarded"] and progress["first_reward_frame"] is None:
            progress["first_reward_frame"] = frames
        if progress["rewarded"] and isinstance(loss_module, MetaLookaheadLoss) and not loss_module.meta_started:
            loss_module.start_meta_learning()  # meta_start=first_reward waits for this
        timers["sample"] += time.perf_counter() - tick

        out = {}  # the latest value of every loss and diagnostic this batch produced
        if frames > cfg.collector.init_random_frames:  # the random phase is over
            for i in range(updates_per_batch):
                tick = time.perf_counter()
                batch = sample_batch(loss_module, replay_buffer, demos, cfg)
                timers["sample"] += time.perf_counter() - tick
                tick = time.perf_counter()
                result = update(loss_module, optimizers, target_updater, batch, skipped).detach()
                out.update(result.items())
                progress["updates"] += 1
                timers["update"] += time.perf_counter() - tick
                if diagnostics_per_update and "meta_step" in result and loss_module.diagnostics_due:
                    # a guided update's diagnostics, at its frame: the batch's updates spread evenly over its frames
                    step = frames - data.numel() + math.ceil((i + 1) * data.numel() / updates_per_batch)
                    log_scalars(logger, split_outputs(result)[1], step)
        collector.update_policy_weights_()

        tick = time.perf_counter()
        out.update({f"nonfinite_skips_{name}": torch.tensor(float(skipped[name])) for name in optimizers})
        log_training(logger, data, out, loss_module, frames, progress, timers, start)
        timers["log"] += time.perf_counter() - tick
        done = frames >= cfg.collector.total_frames
        if frames >= progress["next_eval"] or done:
            tick = time.perf_counter()
            last_eval = evaluate(loss_module.base_loss.actor_network, eval_env, cfg.eval.episodes)
            if divergence_batch is not None:
                last_eval.update(loss_module.demonstration_divergence(divergence_batch))
            timers["eval"] += time.perf_counter() - tick
            row = {"frames": frames, "updates": progress["updates"], "wall_time": round(time.perf_counter() - start, 2), **last_eval}
            evaluations.append(row)
            logged = ("dense_return", "sparse_return", "length", "x_final", "demo_action_mse", "demo_nll")
            log_scalars(logger, {f"eval/{k}": last_eval[k] for k in logged if k in last_eval}, frames)
            bar.set_postfix(dense=f"{last_eval['dense_return']:.1f}", sparse=f"{last_eval['sparse_return']:.1f}")
            while progress["next_eval"] <= frames:
                progress["next_eval"] += cfg.eval.interval
        if cfg.checkpoint.interval and (frames >= progress["next_checkpoint"] or done):
            while progress["next_checkpoint"] <= frames:
                progress["next_checkpoint"] += cfg.checkpoint.interval
            progress.update(frames=frames, skipped=dict(skipped), wall_time=earlier_wall_time + time.perf_counter() - start)
            if logger is not None:
                logger.experiment.flush()
            timers["checkpoint"] += run_checkpoint.save(run_dir, cfg, loss_module, optimizers, replay_buffer, progress)
        bar.update(data.numel())
        tick = time.perf_counter()
    bar.close()
    collector.shutdown()
    train_env.close()
    eval_env.close()
    if logger is not None:
        logger.experiment.flush()
    wall_time = time.perf_counter() - start
    result = {**last_eval, "frames": frames, "updates": progress["updates"], "wall_time": wall_time,
              "total_wall_time": earlier_wall_time + wall_time,
              "first_reward_frame": progress["first_reward_frame"], **timers}
    write_result(run_dir, result)
    if not cfg.checkpoint.get("keep_final", True):
        shutil.rmtree(run_dir / run_checkpoint.NAMES[0], ignore_errors=True)  # studies keep results, not replay buffers
    return result


#: What a run writes into its directory; a new run refuses a directory holding any of them.
RUN_OUTPUTS = (EVAL_FILE, RUN_FILE, RESULT_FILE, "tensorboard", *run_checkpoint.NAMES)


def claim_run_dir(run_dir: Path, overwrite: bool = False) -> None:
    """Stop before a new run mixes its files with another run's (appended eval rows, a second
    TensorBoard stream, an overwritten checkpoint); ``overwrite=true`` deletes that run's files first."""
    found = [name for name in RUN_OUTPUTS if (run_dir / name).exists()]
    if not found:
        return
    if not overwrite:
        raise ConfigError(f"run_dir={str(run_dir)!r} holds another run's files ({', '.join(found)}); continue it with "
                          f"resume={run_dir}, give another run_dir, or pass overwrite=true to replace it.")
    for name in found:
        path = run_dir / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def demonstrator_returns(demos: Demonstrations | None) -> dict[str, float | None]:
    """The demonstrator's mean dense and sparse episode returns, when the set records them."""
    meta = demos.meta if demos is not None else {}
    dense = meta.get("dense_returns") or meta.get("returns")  # PointNav's "returns" are its sparse ones
    sparse = meta.get("sparse_returns") or (meta.get("returns") if "dense_returns" in meta else None)
    return {"demonstrator_dense_return": float(np.mean(dense)) if dense else None,
            "demonstrator_sparse_return": float(np.mean(sparse)) if sparse else None}


def write_run_info(run_dir: Path, cfg: DictConfig, demos: Demonstrations | None) -> None:
    """``run.json``: what the run is (task, algorithm, setting, seed, budget) for ``gild_torchrl.analysis``."""
    info = {
        "task": cfg.env.name,
        "algorithm": cfg.algorithm,
        "setting": cfg.get("setting") or cfg.loss.objective,
        "objective": cfg.loss.objective,
        "seed": int(cfg.seed),
        "total_frames": int(cfg.collector.total_frames),
        "eval_interval": int(cfg.eval.interval),
        **demonstrator_returns(demos),
    }
    (run_dir / RUN_FILE).write_text(json.dumps(info, indent=1))


def write_result(run_dir: Path, result: Mapping[str, Any]) -> None:
    """``result.json``: the run's last evaluation and totals, written once it has finished (studies skip such runs)."""
    tmp = run_dir / f"{RESULT_FILE}.tmp"
    tmp.write_text(json.dumps(dict(result), indent=1, default=float))
    tmp.rename(run_dir / RESULT_FILE)


def split_outputs(out: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """An update's outputs as TensorBoard scalars: losses and the base loss's metadata under
    ``train/``, the objective's diagnostics under ``gild/``."""
    train, diagnostics = {}, {}
    for key, value in out.items():
        if isinstance(value, torch.Tensor):
            if key.startswith(("loss_", "nonfinite_skips_")) or key in BASE_METADATA:
                train[f"train/{key}"] = value
            else:
                diagnostics[f"gild/{key}"] = value
    return train, diagnostics


def logs_diagnostics_per_update(loss_module: BaseLossWrapper) -> bool:
    """GILD's and Meta-Critic's diagnostics are logged at every ``diagnostics_interval``-th update
    (with the frame that update belongs to), so that a warm start shorter than a collection
    batch still draws a curve; other objectives' diagnostics once per batch."""
    return isinstance(loss_module, MetaLookaheadLoss) and loss_module.diagnostics_interval > 0


def log_training(logger, data, out, loss_module, frames: int, progress: Mapping[str, Any],
                 timers: Mapping[str, float], start: float) -> None:
    """Training returns of the episodes that ended in this batch, losses, GILD diagnostics, throughput.

    ``loss_*`` entries go under ``train/``, the objective's diagnostics under ``gild/``
    (see :func:`split_outputs`).
    """
    if logger is None:
        return
    values: dict[str, Any] = {}
    done = data.get(("next", "done")).reshape(-1)
    if done.any():
        values["train/episode_sparse_return"] = data.get(("next", "episode_sparse_reward"))[done].mean()
        values["train/episode_dense_return"] = data.get(("next", "episode_dense_reward"))[done].mean()
        values["train/episode_length"] = data.get(("next", "step_count"))[done].float().mean()
    train, diagnostics = split_outputs(out)
    values.update(train)
    if not logs_diagnostics_per_update(loss_module):  # else logged at their own updates
        values.update(diagnostics)
    values["gild/guiding"] = float(loss_module.guiding)
    values["gild/guided_updates"] = loss_module.num_guided_updates
    values["gild/rewarded_transitions"] = progress["rewarded"]
    if progress["first_reward_frame"] is not None:
        values["gild/frames_to_first_reward"] = progress["first_reward_frame"]
    wall = time.perf_counter() - start
    values["throughput/frames_per_s"] = frames / wall
    values["throughput/updates_per_s"] = progress["updates"] / wall
    values.update({f"time/{name}": seconds for name, seconds in timers.items()})
    log_scalars(logger, values, frames)


def command_line_keys() -> set[str]:
    """The config keys this Hydra job was given explicitly (empty outside a Hydra job)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return set()
    return {override.split("=", 1)[0].lstrip("+~") for override in HydraConfig.get().overrides.task}


def run(cfg: DictConfig, extend_to: int | None = None) -> None:
    """A recipe's body: train, and turn the errors a user can fix into one sentence and exit code 2.

    With ``resume=<run dir>`` the run continues with the configuration stored in its checkpoint.
    ``collector.total_frames`` given on the command line with ``resume`` (or ``extend_to``, as the
    studies pass it) sets a new budget: a finished run whose final checkpoint was kept continues
    to it, its curves, counters and warm start carrying on.
    """
    try:
        if cfg.resume:
            checkpoint = run_checkpoint.find(Path(cfg.resume))
            if checkpoint is None:
                raise ConfigError(f"resume={cfg.resume!r} holds no complete checkpoint to continue from.")
            stored = run_checkpoint.read_config(checkpoint)
            if stored.algorithm != cfg.algorithm:
                raise ConfigError(
                    f"resume={cfg.resume!r} holds a {stored.algorithm} run; this recipe runs {cfg.algorithm}."
                )
            if extend_to is None and "collector.total_frames" in command_line_keys():
                extend_to = cfg.collector.total_frames
            if extend_to is not None:
                stored.collector.total_frames = int(extend_to)
            # settings added since the checkpoint was written take their defaults; every stored value stays
            stored = OmegaConf.merge(OmegaConf.create(OmegaConf.to_container(cfg, resolve=False)), stored)
            stored.resume, cfg = cfg.resume, stored
        result = train(cfg)
    except (ConfigError, DemonstrationError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"done: {result['frames']} frames, {result['updates']} updates in {result['wall_time']:.0f}s; "
          f"last evaluation dense {result.get('dense_return', float('nan')):.1f}, "
          f"sparse {result.get('sparse_return', float('nan')):.1f}; run directory {cfg.run_dir}")
