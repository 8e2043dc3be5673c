"""The collector's exploration policy (one module) acts as TorchRL's composition of the actor and
AdditiveGaussianModule would, draw for draw."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict
from tensordict.nn import TensorDictSequential
from torchrl.envs.utils import ExplorationType, set_exploration_type
from torchrl.data import Bounded
from torchrl.modules import AdditiveGaussianModule

from gild_torchrl.modules import make_deterministic_actor
from gild_torchrl.modules.exploration import NoisyActor, make_noisy_actor


def _actor_and_spec():
    torch.manual_seed(0)
    spec = Bounded(low=torch.tensor([-1.0, -0.4, -2.0]), high=torch.tensor([1.0, 0.4, 2.0]), shape=(3,), dtype=torch.float32)
    return make_deterministic_actor(5, spec, num_cells=(32, 32)), spec


def test_noisy_actor_draws_torchrls_actions():
    actor, spec = _actor_and_spec()
    reference = TensorDictSequential(actor, AdditiveGaussianModule(spec=spec, sigma_init=1.0, sigma_end=1.0, mean=0.0,
                                                                   std=0.3))
    policy = make_noisy_actor(actor, std=0.3)
    observations = torch.randn(500, 5, generator=torch.Generator().manual_seed(1)) * 4  # many actions at the bounds
    actions = []
    for module in (reference, policy):
        torch.manual_seed(7)
        with set_exploration_type(ExplorationType.RANDOM):
            single = [module(TensorDict({"observation": o}, [])).get("action") for o in observations]
            batch = module(TensorDict({"observation": observations[:9]}, [9])).get("action")
        with set_exploration_type(ExplorationType.DETERMINISTIC):
            mean = module(TensorDict({"observation": observations[:9]}, [9])).get("action")
        actions.append((torch.stack(single), batch, mean))
    for got, expected in zip(actions[1], actions[0]):
        assert torch.equal(got, expected)
    clamped = (actions[1][0].abs() == spec.space.high).any(-1).sum()
    assert clamped > 20  # the clamp was exercised


def test_noisy_actor_shares_the_actors_weights():
    actor, _ = _actor_and_spec()
    policy = NoisyActor(actor, std=0.1)
    assert all(a is b for a, b in zip(actor.module[0].module.parameters(), policy.network.parameters()))


def test_noisy_actor_refuses_another_actor_in_one_sentence():
    from torchrl.modules import MLP
    from tensordict.nn import TensorDictModule

    other = TensorDictSequential(TensorDictModule(MLP(5, 3, num_cells=[8]), in_keys=["observation"], out_keys=["action"]))
    with pytest.raises(ValueError, match="expected make_deterministic_actor's actor"):
        NoisyActor(other, std=0.1)
