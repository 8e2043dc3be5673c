"""TorchRL constructors for the sparse tasks."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torchrl.data import Bounded, Composite, Unbounded
from tensordict import TensorDictBase
from torchrl.envs import Compose, DoubleToFloat, EnvBase, RewardSum, StepCounter, Transform, TransformedEnv
from torchrl.envs.libs.gym import GymWrapper, default_info_dict_reader, set_gym_backend

from gild_torchrl.envs.episode_info import EPISODE_INFO, EpisodeInfo
from gild_torchrl.envs.pointnav import PointNavEnv
from gild_torchrl.envs.sparse import SparseRewardWrapper
from gild_torchrl.tasks import POINTNAV_NAMES, SPARSE_IDS, SPARSE_THRESHOLDS, base_task_id

__all__ = ["make_env", "EpisodeSum", "POINTNAV_NAMES", "INFO_KEYS"]

#: Info entries every env of this package writes next to the reward (under "next").
INFO_KEYS = ("dense_reward", "sparse_reward", "x_position")


class _EpisodeInfoReader(default_info_dict_reader):
    """TorchRL's info reader for :class:`EpisodeInfo`'s entries, which are always there: one
    ``update`` of tensors instead of a validated ``set`` of each numpy value (half the cost per step)."""

    def __call__(self, info_dict: dict, tensordict: TensorDictBase) -> TensorDictBase:
        return tensordict.update({key: torch.as_tensor(info_dict[key]) for key in self.keys})


def _episode_info_reader() -> default_info_dict_reader:
    """The reader of :class:`EpisodeInfo`'s entries, with their dtypes and shapes."""
    spec = Composite({key: Unbounded(shape, dtype=torch.from_numpy(np.zeros((), dtype)).dtype)
                      for key, (dtype, shape) in EPISODE_INFO.items()}, shape=())
    spec["step_count"] = Bounded(low=0, high=torch.iinfo(torch.int64).max, shape=(1,), dtype=torch.int64)  # StepCounter's
    return _EpisodeInfoReader(list(EPISODE_INFO), spec=spec)


def make_env(
    name: str,
    sparse: bool = True,
    seed: int | None = None,
    device: torch.device | str | None = None,
    threshold: float | None = None,
    batch_size: int | tuple[int, ...] = (),
    **kwargs,
) -> TransformedEnv:
    """Build a sparse (or dense) task as a TorchRL env ready for collectors and losses.

    Args:
        name: one of the paper's tasks by dense or sparse id ("Hopper-v5", "SparseHopper-v5", ...),
            ``"PointNav"``, or any Gymnasium id that reports ``info["x_position"]`` together with
            an explicit ``threshold``.
        sparse: gate the reward (training); ``False`` gives the dense task (evaluation, demos);
            both write the dense and the gated reward as info entries.
        seed: seeds the env (``env.set_seed``) when given.
        device: device of the env's tensordicts; ``None`` (the default): CPU tensors in TensorDicts
            that name no device, TorchRL's cheapest path per step (PointNav's are on ``"cpu"`` then).
        threshold: gate distance; defaults to the paper's value for its four tasks (a dense env
            of another id without threshold reports ``sparse_reward == dense_reward``).
        batch_size: PointNav only (the MuJoCo tasks are single envs; batch them with ParallelEnv).
        **kwargs: passed to ``gym.make`` or to :class:`PointNavEnv`.

    The env writes ``observation`` (float32), ``action``, ``("next", "reward")`` (sparse or
    dense), ``("next", "dense_reward")``, ``("next", "x_position")``, ``("next", "step_count")``,
    ``("next", "sparse_reward")`` (the gated reward, also in the dense env),
    ``("next", "episode_reward")``, ``("next", "episode_dense_reward")`` and
    ``("next", "episode_sparse_reward")`` (running sums), and
    ``done``/``terminated``/``truncated``.
    """
    if name in POINTNAV_NAMES:
        base: EnvBase = PointNavEnv(batch_size=batch_size, device=device or "cpu", **kwargs)
    else:
        if batch_size not in ((), [], None, 1, (1,)):
            raise ValueError(
                f"make_env: batch_size={batch_size!r} is only supported for PointNav; "
                f"batch {name!r} with torchrl.envs.ParallelEnv instead"
            )
        base_id = base_task_id(name)
        if threshold is None and sparse:
            if base_id not in SPARSE_THRESHOLDS:
                raise ValueError(
                    f"make_env: task {name!r} has no default sparse threshold; pass threshold=... "
                    f"or use one of {sorted(SPARSE_IDS)} / {sorted(SPARSE_THRESHOLDS)} or 'PointNav'"
                )
        with set_gym_backend("gymnasium"):
            if sparse and threshold is None and not kwargs and base_id in SPARSE_THRESHOLDS:
                # The registered sparse id (so that the registration itself is what runs).
                gym_env = gym.make(f"Sparse{base_id}", disable_env_checker=True)  # as TorchRL's GymEnv made it
            else:
                try:
                    gym_env = gym.make(base_id, **kwargs)
                except gym.error.UnregisteredEnv as err:  # an unknown id: Gymnasium's own suggestion, in one sentence
                    raise ValueError(f"make_env: task {name!r} is not a Gymnasium id ({err}).") from None
                if threshold is None:
                    threshold = SPARSE_THRESHOLDS.get(base_id)
                gym_env = SparseRewardWrapper(gym_env, threshold=threshold, gate=sparse)
            # float32 observations, step count and episode sums from the Gymnasium env (EpisodeInfo): no transforms
            base = GymWrapper(EpisodeInfo(gym_env), device=device)
        base.set_info_dict_reader(_episode_info_reader())
        return _seeded(TransformedEnv(base), seed)
    transforms = [] if sparse else [_DenseRewardFromInfo()]
    env = TransformedEnv(
        base,
        Compose(
            *transforms,
            DoubleToFloat(),
            StepCounter(),
            RewardSum(),
            EpisodeSum("dense_reward", "episode_dense_reward"),
            EpisodeSum("sparse_reward", "episode_sparse_reward"),
        ),
    )
    return _seeded(env, seed)


def _seeded(env: TransformedEnv, seed: int | None) -> TransformedEnv:
    if seed is not None:
        env.set_seed(seed)
    return env


class _DenseRewardFromInfo(Transform):
    """Copy ``("next", "dense_reward")`` into the reward (PointNav's dense variant)."""

    def __init__(self):
        super().__init__(in_keys=["dense_reward"], out_keys=["reward"])

    def _step(self, tensordict: TensorDictBase, next_tensordict: TensorDictBase) -> TensorDictBase:
        next_tensordict.set("reward", next_tensordict.get("dense_reward").unsqueeze(-1).to(torch.float32))
        return next_tensordict

    def _reset(self, tensordict, tensordict_reset):
        return tensordict_reset


class EpisodeSum(Transform):
    """Running episode sum of an observation-side entry (RewardSum only accepts reward-spec keys).

    Used for ``episode_dense_reward``, the dense return so far, shape ``(*batch, 1)``.
    """

    def __init__(self, in_key: str = "dense_reward", out_key: str = "episode_dense_reward"):
        super().__init__(in_keys=[in_key], out_keys=[out_key])

    def _zeros(self, tensordict: TensorDictBase) -> torch.Tensor:
        return torch.zeros(*tensordict.batch_size, 1, dtype=torch.float32, device=tensordict.device)

    def _reset(self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase) -> TensorDictBase:
        out_key = self.out_keys[0]
        zeros = self._zeros(tensordict_reset)
        if tensordict is not None and "_reset" in tensordict.keys() and out_key in tensordict.keys():
            mask = tensordict.get("_reset").reshape(zeros.shape)
            zeros = torch.where(mask, zeros, tensordict.get(out_key))
        tensordict_reset.set(out_key, zeros)
        return tensordict_reset

    def _step(self, tensordict: TensorDictBase, next_tensordict: TensorDictBase) -> TensorDictBase:
        in_key, out_key = self.in_keys[0], self.out_keys[0]
        prev = tensordict.get(out_key, None)
        if prev is None:
            prev = self._zeros(next_tensordict)
        value = next_tensordict.get(in_key).to(torch.float32).reshape(prev.shape)
        next_tensordict.set(out_key, prev + value)
        return next_tensordict

    def transform_observation_spec(self, observation_spec: Composite) -> Composite:
        observation_spec[self.out_keys[0]] = Unbounded(
            (*observation_spec.shape, 1), dtype=torch.float32, device=observation_spec.device
        )
        return observation_spec
