"""GILDLoss composed like a TorchRL loss: the user's own networks and keys, SoftUpdate, the update schedule, bad batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tensordict import TensorDict
from tensordict.nn import TensorDictModule, TensorDictSequential
from torch import nn
from torchrl.envs import RenameTransform
from torchrl.modules import MLP, TanhModule, ValueOperator
from torchrl.objectives import SACLoss, SoftUpdate, TD3Loss

from gild_torchrl.data import DemonstrationError, Demonstrations
from gild_torchrl.envs import make_env
from gild_torchrl.modules import make_action_spec, make_stochastic_actor
from gild_torchrl.objectives import BatchError, GILDLoss, ILLoss

from objective_factories import make_input, make_objective

OBS, ACT, N = 11, 3, 32


def users_td3(action_spec):
    """A TD3Loss over the user's own networks, which read ``obs`` and write ``act``."""
    actor = TensorDictSequential(
        TensorDictModule(MLP(OBS, ACT, num_cells=[16]), in_keys=["obs"], out_keys=["param"]),
        TanhModule(in_keys=["param"], out_keys=["act"], spec=action_spec),
    )

    class Q(nn.Module):
        def __init__(self):
            super().__init__()
            self.mlp = MLP(OBS + ACT, 1, num_cells=[16])

        def forward(self, obs, act):
            return self.mlp(torch.cat([obs, act], -1))

    qvalue = ValueOperator(Q(), in_keys=["obs", "act"], out_keys=["state_action_value"])
    loss = TD3Loss(actor, qvalue, action_spec=action_spec, num_qvalue_nets=2, loss_function="l2")
    loss.make_value_estimator(gamma=0.99)
    return loss


def replay_batch(n: int, generator: torch.Generator, obs_key="obs", act_key="act") -> TensorDict:
    return TensorDict(
        {
            obs_key: torch.randn(n, OBS, generator=generator),
            act_key: torch.rand(n, ACT, generator=generator) * 2 - 1,
            "next": {
                obs_key: torch.randn(n, OBS, generator=generator),
                "reward": torch.randn(n, 1, generator=generator),
                "done": torch.zeros(n, 1, dtype=torch.bool),
                "terminated": torch.zeros(n, 1, dtype=torch.bool),
            },
        },
        [n],
    )


def paper_format_demonstrations(tmp_path, rows: int = 200) -> Demonstrations:
    """The paper's on-disk format: one float64 (N, obs + act) array, columns [s | a]."""
    rng = np.random.default_rng(0)
    path = tmp_path / "demos.npy"
    np.save(path, np.concatenate([rng.normal(size=(rows, OBS)), rng.uniform(-1, 1, size=(rows, ACT))], axis=1))
    return Demonstrations.from_numpy(path, obs_dim=OBS)


def test_gild_composes_like_a_torchrl_loss_with_renamed_keys_and_soft_update(tmp_path):
    torch.manual_seed(0)
    spec = make_action_spec(ACT)
    loss = GILDLoss(users_td3(spec), observation_dim=OBS, action_dim=ACT)
    loss.set_keys(demo="demonstrations")  # the wrapper's own key ...
    loss.set_keys(action="act", reward="sparse_reward")  # ... and the base loss's, through the wrapper
    assert loss.base_loss.tensor_keys.reward == "sparse_reward" and loss.tensor_keys.demo == "demonstrations"
    assert loss.demo_keys == {"observation_key": "obs", "action_key": "act"}

    # the base loss's parameter groups and targets are reachable from the wrapper, as from TD3BCLoss
    assert loss.actor_network_params is loss.base_loss.actor_network_params
    assert loss.target_qvalue_network_params is loss.base_loss.target_qvalue_network_params
    actor_optim = torch.optim.Adam(loss.actor_network_params.values(True, True), lr=1e-2)
    critic_optim = torch.optim.Adam(loss.qvalue_network_params.values(True, True), lr=1e-2)
    gild_optim = torch.optim.Adam(loss.gild_network_params.values(True, True), lr=1e-2)
    updater = SoftUpdate(loss, tau=0.1)
    assert all(loss.base_loss._has_update_associated.values())  # no "no target updater" warning later

    demos = paper_format_demonstrations(tmp_path)  # float64 rows, stored as "observation"/"action"
    g = torch.Generator().manual_seed(1)
    params = {"actor": list(loss.actor_network_params.values(True, True)),
              "critic": list(loss.qvalue_network_params.values(True, True)),
              "gild": list(loss.gild_network_params.values(True, True))}
    before = {name: [p.detach().clone() for p in group] for name, group in params.items()}
    for update in range(4):
        replay = replay_batch(N, g)
        replay["next", "sparse_reward"] = replay["next"].pop("reward")
        demo = demos.sample(N, generator=g, **loss.demo_keys)
        validation = replay_batch(N, g).select("obs")
        targets = [t.clone() for t in loss.target_actor_network_params.values(True, True)]
        sources = [s.detach().clone() for s in loss.actor_network_params.values(True, True)]
        out = loss(loss.make_batch(replay, demo, validation))
        total = sum(value for key, value in out.items() if key.startswith("loss_"))
        for optim in (actor_optim, critic_optim, gild_optim):
            optim.zero_grad()
        total.backward()
        for optim in (actor_optim, critic_optim, gild_optim):
            optim.step()
        assert ("loss_actor" in out.keys()) == (update % 2 == 0)  # TD3's policy delay, owned by the loss
        if "loss_actor" in out.keys():
            updater.step()
            new_sources = list(loss.actor_network_params.values(True, True))
            for t_old, t_new, s in zip(targets, loss.target_actor_network_params.values(True, True), new_sources):
                torch.testing.assert_close(t_new, 0.9 * t_old + 0.1 * s.detach())
            assert any(not torch.equal(a, b) for a, b in zip(sources, new_sources))
    for name, group in params.items():
        assert any(not torch.equal(a, b) for a, b in zip(before[name], group)), name


def test_demonstrations_validate_against_an_env_with_renamed_keys():
    env = make_env("PointNav")
    env.append_transform(RenameTransform(["observation"], ["obs"]))
    demos = Demonstrations(TensorDict(observation=torch.zeros(5, 4), action=torch.zeros(5, 2), batch_size=[5]))
    with pytest.raises(DemonstrationError, match=r"no observation entry 'observation' \(its observation_spec holds .*'obs'.*\); pass observation_key="):
        demos.validate_for_env(env)
    assert demos.validate_for_env(env, observation_key="obs") is demos
    with pytest.raises(DemonstrationError, match="field 'observation' has dimension 3, expected 4"):
        Demonstrations(TensorDict(observation=torch.zeros(5, 3), action=torch.zeros(5, 2), batch_size=[5])).validate_for_env(env, observation_key="obs")
    env.close()


def test_sampled_rows_carry_the_values_under_the_requested_keys():
    data = TensorDict(observation=torch.arange(10.0).reshape(5, 2), action=torch.arange(5.0).reshape(5, 1),
                      next=TensorDict(observation=-torch.arange(10.0).reshape(5, 2), batch_size=[5]), batch_size=[5])
    demos = Demonstrations(data.clone())
    batch = demos.sample(8, generator=torch.Generator().manual_seed(0), observation_key="obs", action_key=("agent", "act"))
    assert "observation" not in batch.keys() and "action" not in batch.keys()
    rows = batch["obs"][:, 0] / 2  # which stored row each sample is
    torch.testing.assert_close(batch["agent", "act"][:, 0], rows)
    torch.testing.assert_close(batch["next", "obs"], -batch["obs"])
    assert set(demos.data.keys()) == {"observation", "action", "next", "episode"}  # the store keeps its layout


def test_the_caller_can_run_the_policy_delay_and_evaluations_leave_the_schedule_alone():
    loss = make_objective("gild", "td3", policy_delay=2, warm_start=3)
    batch = make_input()
    assert "loss_actor" not in loss(batch, update_actor=False).keys()
    assert (loss.num_updates, loss.num_guided_updates) == (1, 0)
    for _ in range(2):
        assert "loss_gild" in loss(batch, update_actor=True).keys()  # the caller's own delay
    assert (loss.num_updates, loss.num_guided_updates) == (3, 2)

    # an evaluation (no gradients, so no optimizer step can follow) computes the next update and moves nothing
    torch.manual_seed(0)
    with torch.no_grad():
        evaluated = loss(batch)
    assert (loss.num_updates, loss.num_guided_updates) == (3, 2) and not loss.next_update_trains_actor
    torch.manual_seed(0)
    real = loss(batch)
    assert (loss.num_updates, loss.num_guided_updates) == (4, 2)
    assert evaluated.keys() == real.keys()
    torch.testing.assert_close(evaluated["loss_qvalue"], real["loss_qvalue"].detach())
    loss(batch)  # the third guided update ends the warm start of 3
    assert not loss.guiding
    assert "loss_gild" not in loss(batch, update_actor=True).keys()


def _with(batch: TensorDict, key, value) -> TensorDict:
    batch = batch.clone()
    batch.set(key, value) if value is not None else batch.del_(key)
    return batch


def _malformed_cases():
    good = make_input(batch=12, demo=7, validation=9)
    demo, validation = good["demo"], good["validation"]
    return {
        "demo observations of the wrong width": (
            _with(good, ("demo", "observation"), torch.randn(7, 10)),
            r"demo batch: key 'observation' has width 10, expected 5 \(the replay batch's 'observation'\)"),
        "demo actions of the wrong width": (
            _with(good, ("demo", "action"), torch.randn(7, 3)),
            r"demo batch: key 'action' has width 3, expected 2 \(the replay batch's 'action'\)"),
        "demos under other keys": (
            _with(good, "demo", TensorDict(obs=demo["observation"], act=demo["action"], batch_size=[7])),
            r"demo batch: key 'observation' is missing; expected \['observation', 'action'\] \(the base loss's keys\), found \['act', 'obs'\]"),
        "no demo batch": (
            _with(good, "demo", None),
            r"demo batch: GILDLoss needs a demonstration batch at key 'demo'"),
        "demo rows that disagree": (
            _with(good, "demo", TensorDict(observation=demo["observation"], action=torch.zeros(6, 2), batch_size=[])),
            r"demo batch: key 'action' has \(6,\) rows, expected \(7,\) like 'observation'"),
        "demo actions of booleans": (
            _with(good, ("demo", "action"), torch.zeros(7, 2, dtype=torch.bool)),
            r"demo batch: key 'action' is torch.bool, expected real numbers"),
        "validation states of the wrong width": (
            _with(good, ("validation", "observation"), torch.randn(9, 4)),
            r"validation batch: key 'observation' has width 4, expected 5"),
        "a replay batch without rewards": (
            _with(good, ("next", "reward"), None),
            r"replay batch: key \('next', 'reward'\) is missing"),
        "a float64 replay batch for float32 networks": (
            _with(good, "observation", good["observation"].double()),
            r"replay batch: key 'observation' is torch.float64, expected torch.float32"),
    }


@pytest.mark.parametrize("case", list(_malformed_cases()))
def test_a_malformed_batch_is_one_sentence_and_leaves_the_input_unchanged(case):
    batch, message = _malformed_cases()[case]
    loss = make_objective("gild", "sac")
    before = batch.clone()
    with pytest.raises(BatchError, match=message) as info:
        loss(batch)
    assert str(info.value).count(". ") == 0 and str(info.value).endswith(".")  # one sentence
    assert set(batch.keys(True, True)) == set(before.keys(True, True))
    for key in before.keys(True, True):
        assert torch.equal(batch.get(key), before.get(key)), key
    assert loss.num_updates == 0  # nothing advanced either


@pytest.mark.parametrize("objective", ["gild", "il"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.int64])
def test_demonstrations_of_another_dtype_are_cast_where_they_enter(objective, dtype):
    batch = make_input()
    batch["demo", "action"] = batch["demo", "action"].round()  # integer-valued, so every dtype holds it exactly
    batch["demo", "observation"] = batch["demo", "observation"].round()
    other = batch.clone()
    other["demo"] = other["demo"].apply(lambda x: x.to(dtype))
    outs = []
    for td in (batch, other):
        loss = make_objective(objective, "sac")
        torch.manual_seed(3)
        outs.append(loss(td))
    assert other["demo", "action"].dtype == dtype  # the caller's batch keeps its dtype
    for key in outs[0].keys():
        torch.testing.assert_close(outs[1][key], outs[0][key])


def test_bc_fit_reads_float64_demonstrations(tmp_path):
    demos = paper_format_demonstrations(tmp_path)
    assert demos.data["observation"].dtype == torch.float64
    loss = GILDLoss(users_td3(make_action_spec(ACT)), observation_dim=OBS, action_dim=ACT, init="bc")
    metrics = loss.fit_to_behaviour_cloning(demos.as_tensordict(**loss.demo_keys), steps=50)
    assert loss.bc_fitted and np.isfinite(metrics["bc_fit_mse"])


def test_set_keys_names_the_keys_it_accepts():
    loss = ILLoss(SACLoss(make_stochastic_actor(OBS, make_action_spec(ACT), (8,)),
                          ValueOperator(MLP(OBS + ACT, 1, num_cells=[8]), in_keys=["observation", "action"]),
                          action_spec=make_action_spec(ACT)))
    loss.set_keys(action="act", validation="val")
    assert loss.base_loss.tensor_keys.action == "act" and loss.tensor_keys.validation == "val"
    with pytest.raises(ValueError, match=r"\['acton'\] is not an accepted tensordict key of ILLoss; expected \['demo', 'validation'\] or the base SACLoss's keys \[.*'action'"):
        loss.set_keys(acton="act")


def test_numpy_reader_names_the_impossible_split(tmp_path):
    path = tmp_path / "rows.npy"
    np.save(path, np.zeros((4, 15)))
    with pytest.raises(DemonstrationError, match=r"has 15 columns \[s \| a\], so obs_dim must lie in 1\.\.14 .*got obs_dim=20"):
        Demonstrations.from_numpy(path, obs_dim=20)
    with pytest.raises(DemonstrationError, match="so act_dim must lie in 1..14"):
        Demonstrations.from_numpy(path, act_dim=0)


def test_a_learned_loss_network_of_other_sizes_than_the_batch_says_which_sizes_to_give():
    from gild_torchrl.modules import GILDNetwork

    network = GILDNetwork(observation_dim=10, action_dim=3, num_cells=(8,))
    with pytest.raises(ValueError) as err:
        network(torch.zeros(4, 3), torch.zeros(4, 11), torch.zeros(4, 3))
    assert str(err.value) == ("GILDNetwork was built for observation_dim=10 and action_dim=3 (inputs action, observation, "
                              "action of widths [3, 10, 3]), but the batch's are [3, 11, 3] wide; give the loss the "
                              "task's observation_dim and action_dim.")
    assert network(torch.zeros(4, 3), torch.zeros(4, 10), torch.zeros(4, 3)).shape == (4,)
