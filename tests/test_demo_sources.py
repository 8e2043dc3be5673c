"""Every demonstration source, in every dtype its reader accepts, runs one update of every objective through the recipe."""

from __future__ import annotations

import pickle
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from tensordict import TensorDict
from torchrl.data import LazyTensorStorage, TensorDictReplayBuffer
from torchrl.objectives import SoftUpdate

from gild_torchrl.data import pointnav_demonstrations
from gild_torchrl.envs import make_env
from gild_torchrl import training
from gild_torchrl.objectives import get_objective

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
SOURCES = ("npy", "npz", "pickle", "minari", "replay_buffer", "directory")
DTYPES = ("float64", "float32", "float16", "int64")
SETTINGS = {  # name: overrides
    "rl": ["loss.objective=rl"],
    "il": ["loss.objective=il"],
    "meta_critic": ["loss.objective=meta_critic"],
    "gild": ["loss.objective=gild", "loss.gild_init=random"],
    "gild_bc": ["loss.objective=gild", "loss.gild_init=bc", "loss.bc_fit_steps=20"],
}


@pytest.fixture(scope="module")
def env():
    env = make_env("PointNav")
    yield env
    env.close()


@pytest.fixture(scope="module")
def episodes():
    """PointNav detour rollouts as (observations with the final one, actions) per episode."""
    demos = pointnav_demonstrations(num_episodes=2, seed=0)
    out = []
    for episode in demos.episodes():
        obs = torch.cat([episode["observation"], episode["next", "observation"][-1:]]).numpy()
        out.append((obs, episode["action"].numpy()))
    return out


def _as(array: np.ndarray, dtype: str) -> np.ndarray:
    return np.round(array).astype(dtype) if dtype.startswith("int") else array.astype(dtype)


def write_source(kind: str, dtype: str, episodes, root: Path) -> Path:
    """The two episodes in ``kind``'s on-disk format, values in ``dtype``; returns the path the recipe reads."""
    obs = np.concatenate([_as(o[:-1], dtype) for o, _ in episodes])
    act = np.concatenate([_as(a, dtype) for _, a in episodes])
    if kind == "npy":
        np.save(root / "demos.npy", np.concatenate([obs, act], axis=1))
        return root / "demos.npy"
    if kind == "npz":
        np.savez(root / "demos.npz", observations=obs, actions=act)
        return root / "demos.npz"
    if kind == "pickle":
        (root / "demos.pkl").write_bytes(pickle.dumps(np.concatenate([obs, act], axis=1)))
        return root / "demos.pkl"
    if kind == "minari":
        minari = pytest.importorskip("minari")
        from minari.data_collector import EpisodeBuffer

        buffers = []
        for i, (o, a) in enumerate(episodes):
            T = len(a)
            buffers.append(EpisodeBuffer(id=i, observations=_as(o, dtype), actions=_as(a, dtype), rewards=np.zeros(T),
                                         terminations=np.eye(1, T, T - 1, dtype=bool)[0], truncations=np.zeros(T, bool), infos={}))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = minari.create_dataset_from_buffers(
                f"gildtest/pointnav-{dtype}-v0", buffers, algorithm_name="test", description="gild_torchrl test dataset",
                observation_space=_box(buffers[0].observations), action_space=_box(buffers[0].actions),
            )
        return Path(dataset.spec.data_path).parent
    td = TensorDict(observation=torch.from_numpy(obs), action=torch.from_numpy(act), batch_size=[len(obs)])
    if kind == "replay_buffer":
        rb = TensorDictReplayBuffer(storage=LazyTensorStorage(100))
        rb.extend(td)
        rb.dumps(root / "rb")
        return root / "rb"
    from gild_torchrl.data import Demonstrations

    return Demonstrations(td, meta={"task": "PointNav"}).save(root / "saved")


def _box(array: np.ndarray):
    from gymnasium.spaces import Box

    return Box(-np.inf, np.inf, shape=array.shape[1:], dtype=array.dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("source", SOURCES)
def test_every_source_and_dtype_runs_every_objective_through_the_recipe(env, episodes, tmp_path, monkeypatch, source, dtype):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    path = write_source(source, dtype, episodes, tmp_path)
    stored = np.concatenate([_as(a, dtype) for _, a in episodes])
    for setting, overrides in SETTINGS.items():
        with initialize_config_dir(config_dir=str(RECIPES / "config"), version_base="1.3"):
            cfg = compose(config_name="td3_gild", overrides=[
                "env.name=PointNav", "network.hidden_sizes=[16,16]", "replay_buffer.batch_size=16",
                "demos.batch_size=16", f"demos.path={path}", "demos.trust_pickle=true", "td3.policy_delay=1", *overrides,
            ])
        demos = training.make_demonstrations(cfg, env)
        np.testing.assert_array_equal(demos.data["action"].numpy(), stored)  # the values written, in their dtype
        assert str(demos.data["action"].dtype).endswith(dtype)
        loss = training.make_loss_module(cfg, env, demos if get_objective(cfg.loss.objective).uses_demonstrations else None)
        optimizers = training.make_optimizers(cfg, loss)
        replay_buffer = TensorDictReplayBuffer(storage=LazyTensorStorage(100), batch_size=16)
        replay_buffer.extend(env.rollout(20, break_when_any_done=False).reshape(-1))
        batch = training.sample_batch(loss, replay_buffer, demos, cfg)
        skipped = Counter()
        out = training.update(loss, optimizers, SoftUpdate(loss, tau=0.005), batch, skipped)
        assert not skipped, (setting, skipped)
        expected = {"rl": set(), "il": {"bc_loss"}, "meta_critic": {"loss_meta_critic"},
                    "gild": {"loss_gild"}, "gild_bc": {"loss_gild"}}[setting]
        assert {"loss_actor", "loss_qvalue"} | expected <= set(out.keys()), setting
        assert all(torch.isfinite(v).all() for k, v in out.items() if k.startswith("loss_")), setting
        if setting == "gild_bc":
            assert loss.bc_fitted
