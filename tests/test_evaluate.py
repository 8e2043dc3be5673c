"""The evaluation's episodes stepped together are the episodes each env gives alone."""

from __future__ import annotations

import pytest
import torch
from tensordict.nn import TensorDictModule

from gild_torchrl.envs import make_env
from gild_torchrl.training import evaluate

SEEDS = (3, 10_003, 20_003)


def fixed_policy() -> TensorDictModule:
    """A deterministic Hopper policy whose action for a state does not depend on the other states of
    its batch (element-wise: no matrix product, whose rounding varies with the batch size)."""
    def act(observation: torch.Tensor) -> torch.Tensor:
        return torch.tanh(0.8 * observation[..., 2:5] - 0.5 * observation[..., 8:11] + 0.1)

    return TensorDictModule(act, in_keys=["observation"], out_keys=["action"])


def test_episodes_stepped_together_equal_the_ones_run_one_after_another():
    policy = fixed_policy()
    together = [make_env("Hopper-v5", sparse=False, seed=seed) for seed in SEEDS]
    alone = [make_env("Hopper-v5", sparse=False, seed=seed) for seed in SEEDS]
    for _ in range(2):  # a second evaluation continues each env's stream of starts
        batched = evaluate(policy, together, episodes=len(SEEDS))
        one_by_one = [evaluate(policy, env, episodes=1) for env in alone]
        assert batched["dense_returns"] == [r["dense_return"] for r in one_by_one]
        for key in ("sparse_return", "return", "length", "x_final"):
            assert batched[key] == pytest.approx(sum(r[key] for r in one_by_one) / len(SEEDS), rel=1e-12), key
    lengths = [r["length"] for r in one_by_one]
    assert len(set(lengths)) > 1  # the episodes end at different steps: some run on while others are over


def test_an_evaluation_needs_one_env_or_one_per_episode():
    envs = [make_env("Hopper-v5", sparse=False, seed=seed) for seed in SEEDS[:2]]
    with pytest.raises(ValueError, match="got 2 envs for episodes=3"):
        evaluate(fixed_policy(), envs, episodes=3)
