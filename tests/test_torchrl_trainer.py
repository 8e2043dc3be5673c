"""GILD through TorchRL's own config system and trainers (examples/torchrl_trainer)."""

from __future__ import annotations

import copy
from pathlib import Path

import hydra
import numpy as np
import pytest
import torch
import torchrl.trainers.algorithms.configs  # noqa: F401  TorchRL's groups
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore

import gild_torchrl.trainers.configs  # noqa: F401  loss=gild and its neighbours
from gild_torchrl.modules import make_action_spec
from gild_torchrl.objectives import GILDLoss, ILLoss, MetaCriticLoss
from gild_torchrl.objectives.batch_checks import MissingBatchError
from gild_torchrl.trainers import ActorStepSoftUpdate, GILDOptimizationStepper
from gild_torchrl.trainers.configs import make_gild_loss
from gild_torchrl.training.update import update

CONFIG_DIR = Path(__file__).resolve().parents[1] / "examples" / "torchrl_trainer" / "config"
WARM_START = 6  # guided actor updates
SHORT = ["collector.total_frames=200", "collector.frames_per_batch=50", "collector.init_random_frames=50",
         "networks.policy_network.num_cells=[16,16]", "networks.qvalue_network.num_cells=[16,16]",
         "replay_buffer.batch_size=16", "replay_buffer.storage.max_size=200", "loss.demo_batch_size=8",
         f"loss.warm_start={WARM_START}", "loss.seed=5", "trainer.logger=null",
         "trainer.progress_bar=false", "trainer.optim_steps_per_batch=10"]


def make_trainer(name: str, *overrides: str):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(name, overrides=[*SHORT, *overrides])
    torch.manual_seed(0)
    return hydra.utils.instantiate(cfg.trainer)


def flat(params) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in params.values(True, True)]).clone()


def test_the_configs_are_in_torchrls_store():
    store = ConfigStore.instance()
    assert {"gild.yaml", "il.yaml", "meta_critic.yaml", "td3.yaml"} <= set(store.list("loss"))
    assert "sparse_gym.yaml" in store.list("env")
    assert "gild.yaml" in store.list("optimization_stepper")
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):  # the recipes' total_updates
        assert compose("td3_gild").loss.total_updates == 1_000_000 - 10_000
        assert compose("sac_gild", overrides=["collector.total_frames=30000"]).loss.total_updates == 20_000


@pytest.mark.parametrize("name", ["td3_gild", "sac_gild"])
def test_a_short_run_trains_gild_during_the_warm_start_only(name):
    trainer = make_trainer(name)
    loss = trainer.loss_module
    assert isinstance(loss, GILDLoss) and isinstance(trainer.optimization_stepper, GILDOptimizationStepper)
    assert isinstance(trainer.target_net_updater, ActorStepSoftUpdate)
    snapshots = {}

    def snapshot(*_):  # after every update: GILD's parameters as the warm start ends
        if loss.num_guided_updates == 1 and "first" not in snapshots:
            snapshots["first"] = flat(loss.gild_network_params)
        if loss.num_guided_updates == WARM_START and "last" not in snapshots:
            snapshots["last"] = flat(loss.gild_network_params)

    trainer.register_op("post_optim", snapshot)
    start = flat(loss.gild_network_params)
    actor_start = flat(loss.actor_network_params)
    trainer.train()
    assert loss.num_updates == 40 and loss.num_guided_updates == WARM_START
    assert not torch.equal(start, snapshots["first"])  # a meta step on the first guided update
    assert not torch.equal(snapshots["first"], snapshots["last"])  # and on the others
    assert torch.equal(snapshots["last"], flat(loss.gild_network_params))  # nothing after the warm start
    assert not torch.equal(actor_start, flat(loss.actor_network_params))  # the actor trained throughout
    assert trainer.optimization_stepper.skipped == {}
    assert len(trainer._log_dict["gild/gild_loss"]) == WARM_START  # the diagnostics hook: one entry per guided update


def test_the_trainers_update_is_the_recipes_for_the_same_batch():
    """One step of TorchRL's trainer loop (the stepper on a bare replay batch, then the trainer's
    target hook) equals the recipe's update on an explicit batch holding the same draws."""
    trainer = make_trainer("td3_gild", "collector.total_frames=50", "trainer.optim_steps_per_batch=1")
    trainer.train()  # fills the replay buffer and runs one (guided) update
    loss, stepper = trainer.loss_module, trainer.optimization_stepper
    kinds = []
    for _ in range(2):  # the next update trains the actor again (TD3's policy delay of 2)
        recipe = copy.deepcopy(loss)
        recipe_updater = ActorStepSoftUpdate(recipe, eps=trainer.target_net_updater.eps)
        recipe.load_state_dict(loss.state_dict())  # building an updater copies the networks into their targets
        recipe_optimizers = stepper.make_optimizers(recipe)  # the same optimisers over the copy, in the same state
        for name, optimizer in recipe_optimizers.items():
            optimizer.load_state_dict(copy.deepcopy(stepper.optimizers[name].state_dict()))  # Adam shares its step tensor otherwise
        replay = trainer.replay_buffer.sample()
        draws = copy.deepcopy(loss.draw_generator)
        guided = recipe.guiding and recipe.next_update_trains_actor
        kinds.append(guided)
        torch.manual_seed(1)
        out = stepper.step(trainer, replay.clone())
        trainer.target_net_updater.step()  # TorchRL's TargetNetUpdaterHook, after every update

        demo = validation = None
        if guided:
            keys = recipe.demo_keys
            demo = recipe.demonstrations.sample(recipe.demo_batch_size, generator=draws, **keys).select(*keys.values())
            buffer = trainer.replay_buffer
            validation = buffer[torch.randint(len(buffer), (replay.shape[0],), generator=draws)].select("observation")
        torch.manual_seed(1)
        expected = update(recipe, recipe_optimizers, recipe_updater, recipe.make_batch(replay.clone(), demo, validation))
        assert ("loss_gild" in expected.keys()) == guided
        torch.testing.assert_close(out["loss_actor"], expected.get("loss_actor", torch.zeros(())).detach(), rtol=0, atol=0)
        torch.testing.assert_close(out["loss_qvalue"], expected["loss_qvalue"].detach(), rtol=0, atol=0)
        for (key, a), b in zip(loss.state_dict().items(), recipe.state_dict().values()):
            if isinstance(a, torch.Tensor):
                assert torch.equal(a, b), key
    assert kinds == [False, True]  # a critic-only update, then a guided one


@pytest.mark.parametrize("objective,loss_class", [("il", ILLoss), ("meta_critic", MetaCriticLoss)])
def test_the_other_objectives_are_one_override_away(objective, loss_class):
    trainer = make_trainer("td3_gild", f"loss={objective}", "collector.total_frames=50",
                           "trainer.optim_steps_per_batch=3")
    trainer.train()
    assert type(trainer.loss_module) is loss_class and trainer.loss_module.num_guided_updates == 2  # TD3's delay of 2


def test_loss_configs_refuse_what_they_cannot_build():
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("td3_gild", overrides=SHORT)
    actor, critic = (hydra.utils.instantiate(cfg.models[name]) for name in ("policy_model", "qvalue_model"))
    networks = {"actor_network": actor, "qvalue_network": critic, "action_spec": make_action_spec(3)}
    with pytest.raises(ValueError, match="base_loss=None"):
        make_gild_loss(task="SparseHopper-v5", **networks)
    with pytest.raises(ValueError, match="demonstrations=None and task=None"):
        make_gild_loss(base_loss=cfg.loss.base_loss, **networks)
    with pytest.raises(ValueError, match="observations have 17 entries; the actor expects 11"):
        make_gild_loss(base_loss=cfg.loss.base_loss, task="SparseHalfCheetah-v5", **networks)


def test_demonstrations_by_path_and_format(tmp_path):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("td3_gild", overrides=SHORT)
    actor, critic = (hydra.utils.instantiate(cfg.models[name]) for name in ("policy_model", "qvalue_model"))
    rows = np.random.default_rng(0).uniform(-1, 1, size=(20, 14)).astype(np.float32)  # [s | a], Hopper's sizes
    np.save(tmp_path / "demos.npy", rows)
    loss = make_gild_loss(base_loss=cfg.loss.base_loss, actor_network=actor, qvalue_network=critic,
                          action_spec=make_action_spec(3), demonstrations=str(tmp_path / "demos.npy"),
                          demo_format="numpy", observation_dim=11, action_dim=3)
    data = loss.demonstrations.data
    assert np.array_equal(data["observation"].numpy(), rows[:, :11]) and np.array_equal(data["action"].numpy(), rows[:, 11:])


def test_sactrainer_without_the_stepper_trains_gild_with_its_one_optimiser():
    trainer = make_trainer("sac_gild", "trainer.hooks=null", "loss.validation_source=batch")
    loss = trainer.loss_module
    start = flat(loss.gild_network_params)
    trainer.train()
    assert trainer.optimization_stepper is None and loss.num_guided_updates == WARM_START
    assert not torch.equal(start, flat(loss.gild_network_params))
    trainer = make_trainer("sac_gild", "trainer.hooks=null")  # validation_source=replay_buffer: no buffer reaches the loss
    with pytest.raises(MissingBatchError, match="draw_validation_from"):
        trainer.train()
