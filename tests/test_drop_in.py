"""The drop-in loss: a bare replay batch in, the demo batch and validation states drawn by the loss itself."""

from __future__ import annotations

import copy

import pytest
import torch
from tensordict import TensorDict
from torchrl.data import LazyTensorStorage, TensorDictReplayBuffer

from gild_torchrl.data import Demonstrations
from gild_torchrl.objectives import ForeachSoftUpdate
from gild_torchrl.objectives.batch_checks import MissingBatchError
from gild_torchrl.optim import make_adam, make_meta_optimizer
from gild_torchrl.training.update import update
from objective_factories import ACT, OBS, make_input, make_objective, parameter_groups

BATCH, DEMO_BATCH = 12, 7


def drop_in_objective(objective: str, algorithm: str, seed: int, **kwargs):
    """``make_objective`` (its ``seed`` seeds the networks) with the drop-in's draws seeded by ``seed``."""
    loss = make_objective(objective, algorithm, **kwargs)
    loss.draw_seed = seed
    return loss


def make_sources(seed: int = 5):
    """A replay buffer of random transitions and a demonstration set, both larger than a batch."""
    replay = make_input(batch=40, validation=None, seed=seed).exclude("demo")
    replay.batch_size = [40]
    buffer = TensorDictReplayBuffer(storage=LazyTensorStorage(40), batch_size=BATCH)
    buffer.extend(replay)
    g = torch.Generator().manual_seed(seed + 1)
    demos = Demonstrations(TensorDict({"observation": torch.randn(30, OBS, generator=g),
                                       "action": torch.rand(30, ACT, generator=g) * 2 - 1}, [30]))
    return buffer, demos


def optimizers_of(loss) -> dict[str, torch.optim.Optimizer]:
    """The recipe's optimisers: Adam per group, the meta network's Adam with coupled weight decay."""
    groups = parameter_groups(loss)
    network = groups.pop("network", None)
    optimizers = {name: make_adam(params, lr=1e-3) for name, params in groups.items()}
    if network is not None:
        optimizers["meta"] = make_meta_optimizer(network, lr=1e-3)
    return optimizers


@pytest.mark.parametrize("objective,algorithm", [("gild", "td3"), ("gild", "sac"), ("il", "td3"), ("meta_critic", "ddpg")])
def test_drop_in_update_equals_the_recipe_update_for_the_same_draws(objective, algorithm):
    """``loss(replay)``, summed ``loss_*``, one backward (a TorchRL trainer's call) moves every
    network exactly as the recipe's update on an explicit batch holding the same draws."""
    buffer, demos = make_sources()
    kwargs = {"policy_delay": 2} if algorithm == "td3" else {}
    drop_in = drop_in_objective(objective, algorithm, 11, demonstrations=demos, demo_batch_size=DEMO_BATCH,
                                validation_source="replay_buffer", **kwargs)
    drop_in.draw_validation_from(buffer)
    recipe = make_objective(objective, algorithm, **kwargs)
    opt_drop_in, opt_recipe = optimizers_of(drop_in), optimizers_of(recipe)
    target_drop_in, target_recipe = ForeachSoftUpdate(drop_in, tau=0.05), ForeachSoftUpdate(recipe, tau=0.05)
    draws = torch.Generator().manual_seed(11)
    sampling = torch.Generator().manual_seed(0)
    for step in range(3):
        replay = buffer[torch.randint(len(buffer), (BATCH,), generator=sampling)]
        guided = recipe.guiding and recipe.next_update_trains_actor
        torch.manual_seed(100 + step)  # TD3's target noise and SAC's actions: the same global draws for both
        out = drop_in(replay.clone())  # the trainer's path: a bare replay batch
        for optimizer in opt_drop_in.values():
            optimizer.zero_grad(set_to_none=True)
        sum(v for k, v in out.items() if k.startswith("loss_")).backward()
        for optimizer in opt_drop_in.values():
            if any(p.grad is not None for group in optimizer.param_groups for p in group["params"]):
                optimizer.step()
        if "loss_actor" in out.keys():
            target_drop_in.step()

        demo = validation = None
        if guided:  # the recipe's path: the same rows, drawn in the same order, given explicitly
            if recipe.uses_demonstrations:
                demo = demos.sample(DEMO_BATCH, generator=draws, **recipe.demo_keys).select("observation", "action")
            if recipe.uses_validation:
                validation = buffer[torch.randint(len(buffer), (BATCH,), generator=draws)].select("observation")
        torch.manual_seed(100 + step)
        expected = update(recipe, opt_recipe, target_recipe, recipe.make_batch(replay.clone(), demo, validation))
        assert sorted(out.keys()) == sorted(expected.keys()), step
        for key in out.keys():
            torch.testing.assert_close(out[key], expected[key], rtol=0, atol=0, msg=f"{key} at update {step}")
    for (name, a), b in zip(drop_in.state_dict().items(), recipe.state_dict().values()):
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b), name
    assert drop_in.num_updates == recipe.num_updates == 3


def test_the_draw_generator_resumes_exactly_from_the_state_dict():
    buffer, demos = make_sources()
    loss = drop_in_objective("gild", "sac", 3, demonstrations=demos, demo_batch_size=DEMO_BATCH,
                             validation_source="replay_buffer")
    loss.draw_validation_from(buffer)
    replay = buffer[torch.arange(BATCH)]
    for _ in range(2):
        loss(replay)
    resumed = drop_in_objective("gild", "sac", 999, demonstrations=demos, demo_batch_size=DEMO_BATCH,
                                validation_source="replay_buffer")
    resumed.draw_validation_from(buffer)
    resumed.load_state_dict(copy.deepcopy(loss.state_dict()))  # the seed is the saved stream's, not 999
    first, again = loss._with_drawn_batches(replay), resumed._with_drawn_batches(replay)
    for key in ("demo", "validation"):
        assert torch.equal(first[key, "observation"], again[key, "observation"]), key
    assert torch.equal(first["demo", "action"], again["demo", "action"])
    fresh = drop_in_objective("gild", "sac", 3, demonstrations=demos, demo_batch_size=DEMO_BATCH,
                             validation_source="replay_buffer")
    fresh.draw_validation_from(buffer)
    assert not torch.equal(fresh._with_drawn_batches(replay)["demo", "action"], first["demo", "action"])  # it moved on


def test_explicit_batches_win_and_an_evaluation_leaves_the_generator_alone():
    buffer, demos = make_sources()
    loss = drop_in_objective("gild", "td3", 3, demonstrations=demos, demo_batch_size=DEMO_BATCH,
                             validation_source="replay_buffer")
    loss.draw_validation_from(buffer)
    explicit = make_input(batch=BATCH, demo=5, validation=4)
    drawn = loss._with_drawn_batches(explicit)
    assert drawn is explicit and loss.draw_generator is None  # nothing drawn, no stream started
    replay = buffer[torch.arange(BATCH)]
    with torch.no_grad():
        loss(replay)
    state = loss.draw_generator.get_state()
    with torch.no_grad():
        loss(replay)
    assert torch.equal(loss.draw_generator.get_state(), state) and loss.num_updates == 0
    loss(replay)
    assert not torch.equal(loss.draw_generator.get_state(), state)


@pytest.mark.parametrize("source", ["batch", "demo"])
def test_validation_from_the_batch_or_the_demo_batch_needs_no_buffer(source):
    _, demos = make_sources()
    loss = make_objective("gild", "td3", demonstrations=demos, demo_batch_size=DEMO_BATCH, validation_source=source)
    replay = make_input(batch=BATCH, validation=None).exclude("demo")
    batch = loss._with_drawn_batches(replay)
    assert batch["demo", "observation"].shape == (DEMO_BATCH, OBS)
    if source == "demo":
        assert torch.equal(batch["validation", "observation"], batch["demo", "observation"])
    else:
        assert "validation" not in batch.keys()  # the meta-objective reads the replay batch's own states
    assert "loss_gild" in loss(replay).keys()


def test_missing_sources_raise_one_clear_error():
    _, demos = make_sources()
    loss = make_objective("gild", "td3", demonstrations=demos, validation_source="replay_buffer")
    replay = make_input(batch=BATCH, validation=None).exclude("demo")
    with pytest.raises(MissingBatchError, match="draw_validation_from"):
        loss(replay)
    with pytest.raises(ValueError, match="validation_source='other'"):
        make_objective("gild", "td3", validation_source="other")
    with pytest.raises(MissingBatchError, match="demonstration batch"):
        make_objective("il", "td3")(replay)  # no demonstrations given, none in the input
