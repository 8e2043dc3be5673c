"""Shared helpers of the recipes (environments, collector, replay buffer, TD3 models, evaluation).

Written in the style of TorchRL's sota-implementations: small ``make_*`` functions that read
a Hydra/OmegaConf config, one evaluation helper, checkpoint helpers. Defaults follow the GILD
spec ("Default hyperparameters"). Import from a recipe as ``from utils import ...`` (Hydra runs
scripts from ``recipes/``) or as ``recipes.utils``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from tensordict.nn import TensorDictModule, TensorDictSequential
from torch import nn
from torchrl.collectors import Collector
from torchrl.data import LazyMemmapStorage, LazyTensorStorage, TensorDictReplayBuffer
from torchrl.envs import EnvBase, ExplorationType, set_exploration_type
from torchrl.modules import MLP, AdditiveGaussianModule, TanhModule, ValueOperator
from torchrl.objectives import SoftUpdate, TD3Loss

import gild_torchrl  # noqa: F401 - registers the sparse Gymnasium ids
from gild_torchrl.envs import make_env

__all__ = [
    "cfg_get",
    "make_environment",
    "make_collector",
    "make_replay_buffer",
    "make_td3_models",
    "make_td3_loss",
    "make_optimizers",
    "evaluate",
    "log_metrics",
    "save_checkpoint",
    "load_checkpoint",
    "set_num_threads",
]


def cfg_get(cfg: Any, key: str, default: Any = None) -> Any:
    """``cfg.key`` for an OmegaConf node, a dict or a namespace, with a default (dotted keys allowed)."""
    node = cfg
    for part in key.split("."):
        if node is None:
            return default
        node = node.get(part, None) if isinstance(node, Mapping) else getattr(node, part, None)
    return default if node is None else node


def set_num_threads(n: int | None) -> None:
    """Limit torch's intra-op threads (the project's machines share 2 cores)."""
    if n:
        torch.set_num_threads(int(n))


# ====================================================================
# Environments
# ------------


def make_environment(env_cfg: Any, device: torch.device | str = "cpu") -> tuple[EnvBase, EnvBase]:
    """Training and evaluation envs of a task.

    ``env_cfg`` fields: ``name`` (see :func:`gild_torchrl.envs.make_env`), ``sparse`` (train on
    the gated reward, default True), ``threshold`` (optional), ``seed`` (default 0). The
    evaluation env is always the dense task (the spec: train sparse, evaluate dense); both write
    ``dense_reward``/``sparse_reward`` and their episode sums.
    """
    name = cfg_get(env_cfg, "name")
    if not name:
        raise ValueError("make_environment: config field env.name is empty; expected a task name such as 'Hopper-v5'")
    seed = int(cfg_get(env_cfg, "seed", 0))
    threshold = cfg_get(env_cfg, "threshold", None)
    sparse = bool(cfg_get(env_cfg, "sparse", True))
    train_env = make_env(name, sparse=sparse, seed=seed, device=device, threshold=threshold)
    eval_env = make_env(name, sparse=False, seed=seed + 10_000, device=device, threshold=threshold)
    return train_env, eval_env


# ====================================================================
# Collector and replay buffer
# ---------------------------


def make_collector(cfg: Any, train_env: EnvBase, policy: Any, collected_frames: int = 0) -> Collector:
    """A single-process :class:`~torchrl.collectors.Collector` (SyncDataCollector is gone in 0.13+).

    ``cfg.collector``: ``total_frames``, ``frames_per_batch`` (1000), ``init_random_frames`` (1e4),
    ``device``. ``collected_frames`` resumes a run: the collector only collects what is left,
    and uniform random actions only for what is left of the random phase.
    """
    total = int(cfg_get(cfg, "collector.total_frames", 1_000_000))
    fpb = int(cfg_get(cfg, "collector.frames_per_batch", 1000))
    init_random = int(cfg_get(cfg, "collector.init_random_frames", 10_000))
    remaining = max(total - collected_frames, fpb)
    remaining = -(-remaining // fpb) * fpb
    device = cfg_get(cfg, "collector.device", None) or "cpu"
    collector = Collector(
        train_env,
        policy,
        frames_per_batch=fpb,
        total_frames=remaining,
        init_random_frames=max(init_random - collected_frames, 0),
        device=device,
        reset_at_each_iter=False,
        auto_register_policy_transforms=False,  # the MLP policies need no InitTracker (torchrl 0.14 warns otherwise)
    )
    collector.set_seed(int(cfg_get(cfg, "env.seed", 0)) + collected_frames)
    return collector


def make_replay_buffer(
    batch_size: int = 256,
    buffer_size: int = 1_000_000,
    scratch_dir: str | os.PathLike | None = None,
    device: torch.device | str = "cpu",
    prefetch: int | None = None,
) -> TensorDictReplayBuffer:
    """Uniform replay buffer; memory-mapped on disk when ``scratch_dir`` is given (kept after exit)."""
    if scratch_dir is not None:
        Path(scratch_dir).mkdir(parents=True, exist_ok=True)
        storage = LazyMemmapStorage(int(buffer_size), scratch_dir=str(scratch_dir), device="cpu")
    else:
        storage = LazyTensorStorage(int(buffer_size), device="cpu")
    rb = TensorDictReplayBuffer(storage=storage, batch_size=int(batch_size), prefetch=prefetch, pin_memory=False)
    if str(device) != "cpu":
        rb.append_transform(lambda td: td.to(device))
    return rb


# ====================================================================
# Models
# ------


def make_td3_models(
    env: EnvBase,
    hidden_sizes: tuple[int, ...] = (256, 256),
    exploration_std: float = 0.1,
    device: torch.device | str = "cpu",
) -> tuple[nn.ModuleList, TensorDictSequential]:
    """Deterministic tanh actor and a Q network (TD3Loss makes the twin copies), plus the explorer.

    Returns ``(nn.ModuleList([actor, qvalue]), actor_explore)``; ``actor_explore`` adds
    N(0, ``exploration_std``) noise (clipped to the action bounds) in RANDOM exploration mode.
    """
    action_spec = env.action_spec_unbatched.to(device)
    act_dim = action_spec.shape[-1]
    actor_net = MLP(num_cells=list(hidden_sizes), out_features=act_dim, activation_class=nn.ReLU, device=device)
    actor = TensorDictSequential(
        TensorDictModule(actor_net, in_keys=["observation"], out_keys=["param"]),
        TanhModule(in_keys=["param"], out_keys=["action"], spec=action_spec),
    )
    qvalue_net = MLP(num_cells=list(hidden_sizes), out_features=1, activation_class=nn.ReLU, device=device)
    qvalue = ValueOperator(module=qvalue_net, in_keys=["observation", "action"])
    model = nn.ModuleList([actor, qvalue])
    with torch.no_grad(), set_exploration_type(ExplorationType.RANDOM):
        td = env.fake_tensordict().to(device)
        for net in model:
            net(td)
    actor_explore = TensorDictSequential(
        actor,
        AdditiveGaussianModule(
            spec=action_spec, sigma_init=1.0, sigma_end=1.0, mean=0.0, std=exploration_std, device=device
        ),
    )
    return model, actor_explore


def make_td3_loss(model: nn.ModuleList, cfg: Any) -> tuple[TD3Loss, SoftUpdate]:
    """TD3 loss (policy noise 0.2 clipped at 0.5, gamma 0.99) and its soft target updater (tau 0.005)."""
    loss = TD3Loss(
        actor_network=model[0],
        qvalue_network=model[1],
        num_qvalue_nets=2,
        loss_function=cfg_get(cfg, "optim.loss_function", "l2"),
        delay_actor=True,
        delay_qvalue=True,
        action_spec=model[0][1].spec,
        policy_noise=float(cfg_get(cfg, "optim.policy_noise", 0.2)),
        noise_clip=float(cfg_get(cfg, "optim.noise_clip", 0.5)),
    )
    loss.make_value_estimator(gamma=float(cfg_get(cfg, "optim.gamma", 0.99)))
    updater = SoftUpdate(loss, tau=float(cfg_get(cfg, "optim.tau", 0.005)))
    return loss, updater


def make_optimizers(loss: TD3Loss, cfg: Any) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """Adam for the actor and the critics (3e-4 each by default)."""
    actor_params = list(loss.actor_network_params.flatten_keys().values())
    critic_params = list(loss.qvalue_network_params.flatten_keys().values())
    lr_actor = float(cfg_get(cfg, "optim.lr_actor", cfg_get(cfg, "optim.lr", 3e-4)))
    lr_critic = float(cfg_get(cfg, "optim.lr_critic", cfg_get(cfg, "optim.lr", 3e-4)))
    return torch.optim.Adam(actor_params, lr=lr_actor), torch.optim.Adam(critic_params, lr=lr_critic)


# ====================================================================
# Evaluation
# ----------


@torch.no_grad()
def evaluate(policy: Any, env: EnvBase, episodes: int = 10, max_steps: int = 1000) -> dict[str, float]:
    """Run ``episodes`` episodes with the deterministic policy and average their returns.

    Returns ``{"dense_return", "sparse_return", "return", "length", "x_final"}`` means, plus
    ``"dense_returns"`` (the per-episode list). ``return`` is the env's own reward (dense for an
    evaluation env). Works for single envs and for batched ones (PointNav).
    """
    dense, sparse, rets, lengths, xs = [], [], [], [], []
    with set_exploration_type(ExplorationType.DETERMINISTIC):
        while len(dense) < episodes:
            # A single env stops at its episode's end; a batched one runs on and each sub-env's
            # first episode is read.
            single = env.batch_size == torch.Size([])
            traj = env.rollout(max_steps, policy, break_when_any_done=single, auto_cast_to_device=True)
            traj = traj.reshape(-1, traj.shape[-1]) if traj.ndim > 1 else traj.unsqueeze(0)
            for ep in traj:
                done = ep.get(("next", "done")).reshape(-1)
                end = int(done.nonzero()[0]) if bool(done.any()) else ep.shape[0] - 1
                nxt = ep.get("next")[end]
                dense.append(float(nxt.get("episode_dense_reward").sum()))
                sparse.append(float(nxt.get("episode_sparse_reward").sum()))
                rets.append(float(nxt.get("episode_reward").sum()))
                lengths.append(end + 1)
                xs.append(float(nxt.get("x_position").sum()))
                if len(dense) >= episodes:
                    break
    n = len(dense)
    return {
        "dense_return": sum(dense) / n,
        "sparse_return": sum(sparse) / n,
        "return": sum(rets) / n,
        "length": sum(lengths) / n,
        "x_final": sum(xs) / n,
        "dense_returns": dense,
    }


def log_metrics(logger: Any, metrics: Mapping[str, float], step: int) -> None:
    """Log scalar metrics (lists are skipped) against the number of collected frames."""
    if logger is None:
        return
    for name, value in metrics.items():
        if isinstance(value, (int, float)) or (isinstance(value, torch.Tensor) and value.numel() == 1):
            logger.log_scalar(name, float(value), step=step)


# ====================================================================
# Checkpoints
# -----------


def save_checkpoint(path: str | os.PathLike, **state: Any) -> Path:
    """Atomically write a checkpoint (state_dicts, counters, RNG states) with ``torch.save``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, with one clear error when it is missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint here (expected a file written by save_checkpoint)")
    try:
        # Our own files, with RNG states and python scalars: weights_only=False.
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"{path}: could not be read as a checkpoint ({type(err).__name__}: {err})") from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit("recipes/utils.py is a helper module; run a recipe such as recipes/collect_demos.py")
