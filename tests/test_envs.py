"""Sparse-reward tasks: the gate, the registered ids, the TorchRL envs and PointNav."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch
from torchrl.envs.utils import check_env_specs

import gild_torchrl  # noqa: F401 - registers the ids
from gild_torchrl.data import pointnav_demonstrations
from gild_torchrl.envs import (
    SPARSE_IDS,
    SPARSE_THRESHOLDS,
    DetourDemonstrator,
    PointNavEnv,
    SparseRewardWrapper,
    make_env,
    random_success_rate,
    sparse_threshold,
)

torch.set_num_threads(1)


class _ScriptedX(gym.Env):
    """A fake locomotion env whose x position and reward follow a script."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float64)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, xs, rewards):
        self.xs, self.rewards, self.t = list(xs), list(rewards), 0

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return np.zeros(1), {"x_position": np.float64(0.0)}

    def step(self, action):
        x, r = self.xs[self.t], self.rewards[self.t]
        self.t += 1
        return np.array([x]), r, False, self.t >= len(self.xs), {"x_position": np.float64(x)}


def test_gate_crosses_and_falls_back():
    xs = [0.2, 0.9, 1.0, 1.01, 1.5, 1.2, 0.99, 0.5, 1.3]
    rewards = [0.5, -0.1, 2.0, 3.0, 1.5, -0.7, 4.0, 1.0, 2.5]
    env = SparseRewardWrapper(_ScriptedX(xs, rewards), threshold=1.0)
    env.reset()
    got = []
    for x, r in zip(xs, rewards):
        _, reward, _, _, info = env.step(np.zeros(1, np.float32))
        assert info["dense_reward"] == r and info["x_position"] == x
        assert info["sparse_reward"] == reward
        got.append(reward)
    # strictly beyond the line pays; on it or back behind it pays 0 again
    assert got == [0.0, 0.0, 0.0, 3.0, 1.5, -0.7, 0.0, 0.0, 2.5]


def test_gate_uses_x0_and_dense_mode():
    xs, rewards = [0.5, 1.6, 2.2], [1.0, 2.0, 3.0]
    env = SparseRewardWrapper(_ScriptedX(xs, rewards), threshold=1.0, x0=0.5)
    env.reset()
    assert [env.step(np.zeros(1))[1] for _ in xs] == [0.0, 2.0, 3.0]
    dense = SparseRewardWrapper(_ScriptedX(xs, rewards), threshold=2.0, gate=False)
    dense.reset()
    out = [dense.step(np.zeros(1)) for _ in xs]
    assert [o[1] for o in out] == rewards
    assert [o[4]["sparse_reward"] for o in out] == [0.0, 0.0, 3.0]


@pytest.mark.parametrize("base", ["Hopper-v5", "HalfCheetah-v5"])
def test_gate_matches_rule_on_mujoco(base):
    """Step by step against an identically seeded dense env, with a threshold both sides are seen at."""
    dense = gym.make(base)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (200, dense.action_space.shape[0])).astype(np.float32)
    dense.reset(seed=3)
    xs, rs = [], []
    for a in actions:
        _, r, term, trunc, info = dense.step(a)
        xs.append(info["x_position"])
        rs.append(r)
        if term or trunc:
            break
    threshold = float(np.median(xs))
    sparse = SparseRewardWrapper(gym.make(base), threshold=threshold)
    sparse.reset(seed=3)
    above = below = 0
    for a, x, r in zip(actions, xs, rs):
        _, reward, _, _, info = sparse.step(a)
        assert info["x_position"] == x and info["dense_reward"] == r
        assert reward == (r if x - 0.0 > threshold else 0.0)
        above += x > threshold
        below += x <= threshold
    assert above and below


@pytest.mark.parametrize("sparse_id", sorted(SPARSE_IDS))
def test_registered_ids_make(sparse_id):
    env = gym.make(sparse_id)
    base = SPARSE_IDS[sparse_id]
    assert env.spec.max_episode_steps == gym.spec(base).max_episode_steps == 1000
    chain, e = [], env
    while hasattr(e, "env"):
        chain.append(type(e).__name__)
        e = e.env
    assert chain.count("TimeLimit") == 1, chain  # the double TimeLimit trap
    wrapper = next(w for w in _wrappers(env) if isinstance(w, SparseRewardWrapper))
    assert wrapper.threshold == SPARSE_THRESHOLDS[base] == sparse_threshold(sparse_id) == sparse_threshold(base)
    assert env.observation_space.shape == gym.make(base).observation_space.shape
    env.reset(seed=0)
    _, reward, *_ , info = env.step(env.action_space.sample())
    assert reward == 0.0 and "dense_reward" in info and "x_position" in info


def _wrappers(env):
    while True:
        yield env
        if not hasattr(env, "env"):
            return
        env = env.env


def test_registered_episode_length_is_1000():
    env = gym.make("SparseHalfCheetah-v5")  # never terminates: truncated by the one TimeLimit
    env.reset(seed=0)
    for t in range(1, 1001):
        *_, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            break
    assert t == 1000 and trunc


def test_import_registers_in_fresh_interpreter():
    code = "import gild_torchrl, gymnasium as g; g.make('SparseWalker2d-v5'); print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]


def test_unknown_threshold_is_a_clear_error():
    with pytest.raises(KeyError, match="no default sparse threshold"):
        sparse_threshold("Swimmer-v5")
    with pytest.raises(ValueError, match="threshold"):
        make_env("Swimmer-v5")


@pytest.mark.parametrize("name,sparse", [("Hopper-v5", True), ("SparseAnt-v5", False), ("PointNav", True), ("PointNav", False)])
def test_torchrl_env_specs(name, sparse):
    env = make_env(name, sparse=sparse, seed=0)
    check_env_specs(env, seed=0)
    td = env.rollout(20)
    assert td["observation"].dtype == torch.float32
    for key in ("dense_reward", "sparse_reward", "x_position", "episode_reward", "episode_dense_reward",
                "episode_sparse_reward", "step_count"):
        assert ("next", key) in td.keys(True), key
    torch.testing.assert_close(td["next", "episode_dense_reward"][-1].squeeze(), td["next", "dense_reward"].sum())
    reward = td["next", "reward"].squeeze(-1)
    expected = td["next", "sparse_reward"] if sparse else td["next", "dense_reward"]
    torch.testing.assert_close(reward, expected)


def test_torchrl_gate_matches_info():
    env = make_env("Hopper-v5", sparse=True, seed=1, threshold=0.0)
    td = env.rollout(100)
    x, dense = td["next", "x_position"], td["next", "dense_reward"]
    torch.testing.assert_close(td["next", "reward"].squeeze(-1), torch.where(x > 0.0, dense, torch.zeros_like(dense)))


def test_generic_id_with_threshold():
    env = make_env("Swimmer-v5", threshold=0.05, seed=0)
    check_env_specs(env)
    td = env.rollout(30)
    x, dense = td["next", "x_position"], td["next", "dense_reward"]
    torch.testing.assert_close(td["next", "reward"].squeeze(-1), torch.where(x > 0.05, dense, torch.zeros_like(dense)))


def test_seeding_is_reproducible():
    a = make_env("Hopper-v5", seed=7).rollout(10, break_when_any_done=False)
    b = make_env("Hopper-v5", seed=7).rollout(10, break_when_any_done=False)
    torch.testing.assert_close(a["observation"][0], b["observation"][0])


# ---------------------------------------------------------------------- PointNav
def test_pointnav_batched_specs_and_partial_reset():
    env = make_env("PointNav", batch_size=8, seed=0)
    check_env_specs(env)
    td = env.rollout(150, break_when_any_done=False)  # auto-resets sub-envs independently
    assert td.shape == (8, 150)
    assert int(td["next", "step_count"].max()) == 100


def test_pointnav_reward_termination_truncation():
    env = PointNavEnv(max_steps=100, seed=0)
    straight = env.rollout(100, lambda td: td.set("action", torch.tensor([1.0, 0.0]) * torch.ones_like(td["observation"][..., :2]) * td["observation"][..., 2:3].sign()), break_when_any_done=True)
    steps = straight.shape[0]
    assert bool(straight["next", "terminated"][-1]) and not bool(straight["next", "truncated"][-1])
    assert 16 <= steps <= 20
    assert float(straight["next", "reward"][-1]) == pytest.approx(1 - steps / 100)
    assert float(straight["next", "reward"][:-1].abs().sum()) == 0.0
    still = env.rollout(200, lambda td: td.set("action", torch.zeros(2)), break_when_any_done=True)
    assert still.shape[0] == 100 and bool(still["next", "truncated"][-1]) and not bool(still["next", "terminated"][-1])
    assert float(still["next", "reward"].sum()) == 0.0


def test_pointnav_random_exploration_rarely_succeeds():
    rate = random_success_rate(4000, seed=0)
    assert rate < 0.01


def test_pointnav_demonstrator_detours_and_succeeds():
    demos = pointnav_demonstrations(10, seed=0)
    assert demos.num_episodes == 10 and demos.task == "PointNav"
    demos.validate_for_task("PointNav")
    optimal = 1 - 18 / 100
    assert all(0.5 < r < optimal - 0.05 for r in demos.returns)  # arrives, but clearly later
    # the detour leaves the straight line by more than half a unit
    assert float(demos.data["observation"][:, 1].abs().max()) > 0.4
    env = PointNavEnv(batch_size=(256,), seed=1)
    traj = env.rollout(100, DetourDemonstrator(generator=torch.Generator().manual_seed(0)), break_when_any_done=False)
    reached = traj["next", "terminated"].any(1).float().mean()
    assert reached > 0.95


def test_an_unknown_task_id_with_an_explicit_threshold_is_one_sentence():
    with pytest.raises(ValueError) as err:
        make_env("Hoper-v5", threshold=1.0)
    message = str(err.value)
    assert message.startswith("make_env: task 'Hoper-v5' is not a Gymnasium id (") and "Hopper" in message
    assert "\n" not in message


def _transformed_reference(name: str, sparse: bool):
    """The env as TorchRL's transforms built it before :class:`EpisodeInfo`: the Gymnasium env under
    ``GymWrapper`` with float64 info entries, then ``DoubleToFloat``, ``StepCounter``, ``RewardSum``
    and the two ``EpisodeSum`` transforms."""
    from torchrl.data import Composite, Unbounded
    from torchrl.envs import Compose, DoubleToFloat, RewardSum, StepCounter, TransformedEnv
    from torchrl.envs.libs.gym import GymWrapper, default_info_dict_reader

    from gild_torchrl.envs import INFO_KEYS
    from gild_torchrl.envs.factory import EpisodeSum
    from gild_torchrl.envs.sparse import SparseRewardWrapper

    gym_env = SparseRewardWrapper(gym.make(name, disable_env_checker=True), threshold=SPARSE_THRESHOLDS[name], gate=sparse)
    base = GymWrapper(gym_env)  # make_env's default: TensorDicts that name no device
    spec = Composite({key: Unbounded((), dtype=torch.float64) for key in INFO_KEYS}, shape=())
    base.set_info_dict_reader(default_info_dict_reader(list(INFO_KEYS), spec=spec))
    return TransformedEnv(base, Compose(DoubleToFloat(), StepCounter(), RewardSum(),
                                        EpisodeSum("dense_reward", "episode_dense_reward"),
                                        EpisodeSum("sparse_reward", "episode_sparse_reward")))


@pytest.mark.parametrize("sparse", [True, False])
def test_episode_info_gives_what_torchrls_transforms_gave(sparse):
    """make_env's MuJoCo envs keep their step count and running returns in the Gymnasium env
    (EpisodeInfo) instead of TorchRL transforms: over several episodes, every entry (observation,
    rewards, info values, step counts, running sums, flags) has the dtype, shape and value the
    transforms gave, and so have the specs."""
    new = make_env("Hopper-v5", sparse=sparse, seed=11)
    old = _transformed_reference("Hopper-v5", sparse)
    old.set_seed(11)
    actions = torch.rand(600, 3, generator=torch.Generator().manual_seed(2)) * 2 - 1
    rollouts = []
    for env in (new, old):
        steps = iter(actions)
        rollouts.append(env.rollout(600, lambda td: td.set("action", next(steps)), break_when_any_done=False))
    got, expected = rollouts
    assert int(expected.get(("next", "done")).sum()) >= 3  # several episodes, so resets are compared too
    assert set(got.keys(True, True)) == set(expected.keys(True, True))
    for key in expected.keys(True, True):
        assert got.get(key).dtype == expected.get(key).dtype, key
        assert torch.equal(got.get(key), expected.get(key)), key
    assert new.full_observation_spec == old.full_observation_spec
    assert new.full_reward_spec == old.full_reward_spec


def test_a_resumed_episode_carries_on_its_sums():
    """continue_episode sets the running counters to a carrier's, as the transforms read theirs from it."""
    from tensordict import TensorDict

    from gild_torchrl.envs.state import continue_episode

    env = make_env("Hopper-v5", sparse=False, seed=0)
    td = env.reset()
    td = env.step(td.set("action", torch.zeros(3)))
    carrier = TensorDict({"step_count": torch.tensor([41]), "episode_reward": torch.tensor([12.5]),
                          "episode_dense_reward": torch.tensor([10.25]), "episode_sparse_reward": torch.tensor([3.0])}, [])
    continue_episode(env, carrier)
    nxt = env.step(td.get("next").clone().set("action", torch.zeros(3))).get("next")
    assert int(nxt.get("step_count")) == 42
    dense = float(nxt.get("dense_reward"))
    assert nxt.get("episode_dense_reward").item() == pytest.approx(10.25 + dense, abs=1e-5)
    assert nxt.get("episode_reward").item() == pytest.approx(12.5 + dense, abs=1e-5)  # the dense env's reward
    assert nxt.get("episode_sparse_reward").item() == pytest.approx(3.0 + float(nxt.get("sparse_reward")), abs=1e-5)
