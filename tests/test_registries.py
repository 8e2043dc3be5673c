"""A new objective and a new base algorithm are each one registration, made here in the test file
alone, and run through a recipe's run: the config checks, the builders, the schedule, the logging
and the run directory read them from their tables.

``DDPG_SMOOTH`` below is what a new algorithm module holds (``gild_torchrl/algorithms/<name>.py``):
its TorchRL loss builder, its options from its config section, its adapter, registered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gild_torchrl import training
from torchrl.objectives import DDPGLoss

from gild_torchrl.algorithms import ALGORITHMS, Algorithm, register_algorithm
from gild_torchrl.algorithms.ddpg import DDPGAdapter
from gild_torchrl.algorithms.td3 import make_td3_loss
from gild_torchrl.modules import make_action_spec, make_deterministic_actor, make_qvalue
from gild_torchrl.objectives import OBJECTIVES, BaseLossWrapper, NextBatches, Objective, register_objective

ROOT = Path(__file__).resolve().parents[1]
TINY = ["env.name=PointNav", "collector.total_frames=400", "collector.init_random_frames=200",
        "collector.frames_per_batch=100", "eval.interval=200", "eval.episodes=2", "network.hidden_sizes=[16,16]",
        "replay_buffer.batch_size=32", "demos.batch_size=32", "demos.pointnav_episodes=3", "logger.progress_bar=false"]


class ActionNormLoss(BaseLossWrapper):
    """A toy guide: the actor's loss plus ``coeff * softplus(scale)`` times the squared norm of its
    actions on validation states, ``scale`` learned by an optimiser of its own. It uses every hook of
    :class:`~gild_torchrl.objectives.ObjectiveHooks`, so the run's side of an objective reads here."""

    has_guide = True

    def __init__(self, base_loss, *, coeff: float, **schedule) -> None:
        super().__init__(base_loss, **schedule)
        self.coeff = coeff
        self.scale = torch.nn.Parameter(torch.zeros(()))
        self.prepared_with = "not prepared"
        self.rewards_seen = 0
        self.validation_batches = 0

    def batches_for_next_update(self) -> NextBatches:  # validation states on every guided actor update
        return NextBatches(validation=self.guiding and self.next_update_trains_actor)

    def prepare(self, demonstrations) -> None:
        self.prepared_with = demonstrations  # it reads no demonstrations, so the run gives it none

    def diagnostics_at_start(self):
        return {"action_norm_prepared": 1.0}

    def on_first_reward(self) -> None:
        self.rewards_seen += 1

    def extra_parameter_groups(self):
        return {"toy_scale": [self.scale]}

    @property
    def diagnostics_per_update(self) -> bool:
        return True

    def update_diagnostics_due(self, out) -> bool:  # every 10th update, when it was a guided one
        return "action_norm" in out.keys() and (self.num_updates - 1) % 10 == 0

    def schedule_diagnostics(self):
        return {**super().schedule_diagnostics(), "action_norm_scale": float(self.scale.detach())}

    def _guided_update(self, tensordict):
        out = self._base_forward(tensordict, self.adapter.forward)
        validation = tensordict.get(self.tensor_keys.validation)
        self.validation_batches += 1
        action, _ = self.adapter.policy(validation, self.adapter.actor_params)
        penalty = action.pow(2).sum(-1).mean()
        out["loss_actor"] = out["loss_actor"] + self.coeff * torch.nn.functional.softplus(self.scale) * penalty
        out["action_norm"] = penalty.detach()
        return out


@pytest.fixture
def toy_objective():
    register_objective(Objective("action_norm", ActionNormLoss,
                                 lambda i: ActionNormLoss(i.base_loss, coeff=i.options.get("coeff", 0.1), **i.schedule),
                                 default_warm_start=30))
    yield
    del OBJECTIVES["action_norm"]


@pytest.fixture
def toy_algorithm():
    register_algorithm(Algorithm("td3_delay3", make_td3_loss, policy_delay=lambda cfg: 3))
    yield
    del ALGORITHMS["td3_delay3"]


# -- a DDPG-like algorithm, declared as its own module would declare it --------------------------
class SmoothDDPGLoss(DDPGLoss):
    """DDPG with a critic loss of its choosing (``ddpg_smooth.loss_function``)."""


def make_smooth_ddpg_loss(observation_dim, action_spec, *, num_cells=(256, 256), loss_function="smooth_l1", **_):
    return SmoothDDPGLoss(make_deterministic_actor(observation_dim, action_spec, num_cells),
                          make_qvalue(observation_dim, action_spec.shape[-1], num_cells),
                          loss_function=loss_function, delay_actor=True, delay_value=True)


class SmoothDDPGAdapter(DDPGAdapter):
    """DDPG's vocabulary, TorchRL's own code (no plain-tensor path: the base's default)."""

    loss_class = SmoothDDPGLoss

    @classmethod
    def plain_tensor_path(cls, loss):
        return None


DDPG_SMOOTH = Algorithm("ddpg_smooth", make_smooth_ddpg_loss, adapter=SmoothDDPGAdapter,
                        options=lambda cfg: {"loss_function": cfg.ddpg_smooth.loss_function})


@pytest.fixture
def ddpg_like_algorithm():
    register_algorithm(DDPG_SMOOTH)
    yield
    del ALGORITHMS["ddpg_smooth"]


def run_recipe(run_dir: Path, *overrides: str):
    """The body of recipes/td3_gild.py (``training.run``) on a config composed from the recipes' YAML."""
    with initialize_config_dir(config_dir=str(ROOT / "recipes" / "config"), version_base="1.3"):
        cfg = compose("td3_gild", [*TINY, f"run_dir={run_dir}", *overrides])
    seen = {}
    training.run(cfg, on_evaluation=lambda loss, row: bool(seen.update(loss=loss)))
    return seen["loss"]


def test_a_registered_objective_runs_through_a_recipe(tmp_path, toy_objective):
    loss = run_recipe(tmp_path / "run", "loss.objective=action_norm", "+loss.coeff=0.5", "env.sparse=false")
    assert isinstance(loss, ActionNormLoss) and loss.coeff == 0.5 and loss.prepared_with is None
    # its default warm start (30 actor updates of TD3's 100 = 200 updates / policy delay 2), then plain RL
    assert loss.warm_start_updates == 30 and loss.num_guided_updates == 30 and loss.num_updates == 200
    assert loss.validation_batches == 30  # the run sampled the batches it declared, on its guided updates alone
    assert float(loss.scale.detach()) != 0.0  # its extra parameter group got an optimiser that stepped it
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["first_reward_frame"] == 100 and loss.rewards_seen == 1  # dense rewards: told once, at the first batch
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    assert {"gild/action_norm", "train/loss_actor", "gild/guided_updates", "gild/action_norm_scale",
            "gild/action_norm_prepared"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("gild/action_norm_prepared")] == [0]
    # per update: guided updates 0, 2, ..., 58 whose count is due (0, 10, ..., 50), each at its own frame
    assert len(events.Scalars("gild/action_norm")) == 6
    assert json.loads((tmp_path / "run" / "run.json").read_text())["objective"] == "action_norm"
    with pytest.raises(SystemExit):  # another name is still refused, now listing the new one
        run_recipe(tmp_path / "bad", "loss.objective=unknown")


def test_an_unknown_objective_lists_the_registered_ones(toy_objective):
    with initialize_config_dir(config_dir=str(ROOT / "recipes" / "config"), version_base="1.3"):
        cfg = compose("td3_gild", ["loss.objective=unknown", "run_dir=unused"])
    with pytest.raises(training.ConfigError, match=r"loss.objective='unknown'; expected one of \('gild', 'il', 'meta_critic', 'rl', 'action_norm'\)"):
        training.check_config(cfg)


def test_a_registered_base_algorithm_runs_through_a_recipe(tmp_path, toy_algorithm):
    loss = run_recipe(tmp_path / "run", "algorithm=td3_delay3", "loss.objective=gild")
    assert loss.policy_delay == 3 and loss.num_updates == 200
    # GILD's 1% of 200 updates in actor updates of a delay of 3: max(1, round(0.67)), then plain RL
    assert loss.warm_start_updates == 1 and loss.num_guided_updates == 1
    assert loss.base_loss.policy_noise == 0.2  # make_td3_loss's default: the toy declares no options
    groups = ALGORITHMS["td3_delay3"].parameter_groups(loss.base_loss)
    assert set(groups) == {"actor", "critic"}
    actor, critic = ({id(p) for p in groups[name]} for name in ("actor", "critic"))
    trainable = {id(p) for p in loss.base_loss.parameters() if p.requires_grad}
    assert not actor & critic and actor | critic == trainable  # every trainable parameter in exactly one optimiser
    assert actor == {id(p) for p in loss.base_loss.actor_network_params.values(True, True) if p.requires_grad}
    assert all(torch.isfinite(p).all() for p in loss.parameters())


def test_a_ddpg_like_algorithm_declared_in_one_place_runs_through_a_recipe(tmp_path, ddpg_like_algorithm):
    loss = run_recipe(tmp_path / "run", "algorithm=ddpg_smooth", "+ddpg_smooth.loss_function=l1", "loss.objective=il")
    base = loss.base_loss
    assert type(base) is SmoothDDPGLoss and base.loss_function == "l1"  # its options, read from its config section
    assert type(loss.adapter) is SmoothDDPGAdapter and loss.adapter.fast is None  # its adapter, TorchRL's own code
    assert loss.policy_delay == 1 and loss.num_updates == 200 and loss.num_guided_updates == 200
    assert all(torch.isfinite(p).all() for p in loss.parameters())
    assert json.loads((tmp_path / "run" / "run.json").read_text())["algorithm"] == "ddpg_smooth"
    # the algorithm of the same loss class without a declaration of its own keeps the nearest one (DDPG's)
    plain = DDPGLoss(make_deterministic_actor(3, make_action_spec(2), (8,)), make_qvalue(3, 2, (8,)))
    assert type(BaseLossWrapper(plain).adapter) is DDPGAdapter
