"""GILDLoss, ILLoss and MetaCriticLoss over TorchRL's DDPGLoss, TD3Loss and SACLoss."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict

from gild_torchrl.algorithms import make_base_loss
from gild_torchrl.modules import GILDNetwork, make_action_spec
from gild_torchrl.objectives import GILDLoss, ILLoss, MetaCriticLoss, resolve_warm_start
from gild_torchrl.objectives.behaviour_cloning import behaviour_cloning_loss

from objective_factories import (
    ACT,
    ALGORITHMS,
    META_KEYS,
    OBJECTIVES,
    OBS,
    make_input,
    make_objective,
    parameter_groups,
    target_tensors,
)

CRITIC_KEYS = {"ddpg": "loss_value", "td3": "loss_qvalue", "sac": "loss_qvalue"}


def loss_entries(out: TensorDict) -> dict[str, torch.Tensor]:
    return {key: value for key, value in out.items() if key.startswith("loss_")}


def grads_by_group(loss, scalar: torch.Tensor) -> dict[str, bool]:
    groups = parameter_groups(loss)
    flat = [p for params in groups.values() for p in params]
    grads = torch.autograd.grad(scalar, flat, allow_unused=True, retain_graph=True)
    out, i = {}, 0
    for name, params in groups.items():
        got = grads[i : i + len(params)]
        out[name] = any(g is not None and g.abs().sum() > 0 for g in got)
        i += len(params)
    return out


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_each_loss_entry_trains_exactly_its_own_parameters(objective, algorithm):
    loss = make_objective(objective, algorithm)
    out = loss(make_input())
    owners = {"loss_actor": "actor", CRITIC_KEYS[algorithm]: "critic"}
    if algorithm == "sac":
        owners["loss_alpha"] = "alpha"
    if objective in META_KEYS:
        owners[META_KEYS[objective]] = "network"
    entries = loss_entries(out)
    assert set(entries) == set(owners)
    for key, value in entries.items():
        reached = grads_by_group(loss, value)
        assert reached == {name: name == owners[key] for name in reached}, key
    # no gradient ever reaches the target networks
    assert all(not t.requires_grad for t in target_tensors(loss))
    for key, value in out.items():
        if not key.startswith("loss_"):
            assert not value.requires_grad, key


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_gild_actor_gradient_is_that_of_rl_plus_gild_loss(algorithm):
    """loss_actor's gradient is grad[L_RL + mean f(pi(s_d), s_d, a_d)] with omega before its step."""
    loss = make_objective("gild", algorithm)
    batch = make_input()
    torch.manual_seed(3)
    out = loss(batch)
    actor = parameter_groups(loss)["actor"]
    got = torch.autograd.grad(out["loss_actor"], actor)

    torch.manual_seed(3)  # the same draws, in the same order: base loss first, then the demo batch
    base_out = loss.base_loss(batch.exclude("demo", "validation"))
    demo = batch["demo"]
    action, _ = loss.adapter.policy(demo, loss.adapter.actor_params)
    gild = loss.learned_loss_value(action, demo["observation"], demo["action"]).mean()
    expected = torch.autograd.grad(base_out["loss_actor"] + gild, actor)
    torch.testing.assert_close(out["loss_actor"], (base_out["loss_actor"] + gild).detach())
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_il_actor_loss_adds_behaviour_cloning(algorithm):
    loss = make_objective("il", algorithm, bc_coeff=0.5)
    batch = make_input()
    torch.manual_seed(4)
    out = loss(batch)
    torch.manual_seed(4)
    base_out = loss.base_loss(batch.exclude("demo", "validation"))
    action, dist = loss.adapter.policy(batch["demo"], loss.adapter.actor_params)
    bc = behaviour_cloning_loss(action, dist, batch["demo", "action"], loss.adapter.action_bounds(dist))
    torch.testing.assert_close(out["loss_actor"], base_out["loss_actor"] + 0.5 * bc)
    torch.testing.assert_close(out["bc_loss"], bc.detach())


def _meta_loss_value(loss, batch, key, seed):
    torch.manual_seed(seed)
    return loss(batch)[key].detach()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("objective", ["gild", "meta_critic"])
@pytest.mark.parametrize("meta_objective", ["tanh_diff", "q_value"])
def test_meta_gradient_matches_central_finite_differences(objective, algorithm, meta_objective):
    # a large lookahead step makes the meta-loss's dependence on omega well above float64 noise
    loss = make_objective(objective, algorithm, dtype=torch.float64, lookahead_lr=0.05, meta_objective=meta_objective)
    batch = make_input(dtype=torch.float64)
    key = META_KEYS[objective]
    torch.manual_seed(7)
    out = loss(batch)
    omega = list(loss.network_params.values(True, True))
    analytic = torch.autograd.grad(out[key], omega)

    g = torch.Generator().manual_seed(0)
    direction = [torch.randn(p.shape, generator=g, dtype=p.dtype) for p in omega]
    eps = 1e-7  # small enough that no ReLU of the learned network changes side
    with torch.no_grad():
        for p, d in zip(omega, direction):
            p.add_(eps * d)
        plus = _meta_loss_value(loss, batch, key, 7)
        for p, d in zip(omega, direction):
            p.sub_(2 * eps * d)
        minus = _meta_loss_value(loss, batch, key, 7)
        for p, d in zip(omega, direction):
            p.add_(eps * d)
    numeric = (plus - minus) / (2 * eps)
    predicted = sum((a * d).sum() for a, d in zip(analytic, direction))
    assert predicted.abs() > 1e-8, "the meta-gradient should not vanish on this problem"
    torch.testing.assert_close(predicted, numeric, rtol=1e-4, atol=1e-11)
    # and coordinate-wise, on the largest entry of each parameter tensor
    for param, grad in zip(omega, analytic):
        index = tuple(int(i) for i in torch.unravel_index(grad.abs().argmax(), grad.shape))
        with torch.no_grad():
            param[index] += eps
            plus = _meta_loss_value(loss, batch, key, 7)
            param[index] -= 2 * eps
            minus = _meta_loss_value(loss, batch, key, 7)
            param[index] += eps
        torch.testing.assert_close(grad[index], (plus - minus) / (2 * eps), rtol=1e-3, atol=1e-11)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_q_value_meta_objective_is_minus_lookahead_value(algorithm):
    loss = make_objective("gild", algorithm, meta_objective="q_value")
    out = loss(make_input())
    torch.testing.assert_close(out["loss_gild"], -out["value_lookahead"])
    tanh = make_objective("gild", algorithm)(make_input())
    torch.testing.assert_close(tanh["loss_gild"], -torch.tanh(tanh["meta_utility"]))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_the_two_meta_objectives_have_parallel_meta_gradients(algorithm):
    # d/dw -tanh(V(phi') - V(phi_hat)) = -(1 - tanh^2) dV(phi')/dw: the pseudo-actor's value does not depend on
    # omega, so the paper's meta-loss and its mean-Q ablation differ by a positive factor, near 1 while the
    # lookahead changes the value little (the meta_objective study's reading)
    batch = make_input(dtype=torch.float64)
    grads, outs = {}, {}
    for meta_objective in ("tanh_diff", "q_value"):
        loss = make_objective("gild", algorithm, dtype=torch.float64, lookahead_lr=0.05, meta_objective=meta_objective)
        torch.manual_seed(7)
        outs[meta_objective] = loss(batch)
        grads[meta_objective] = torch.autograd.grad(outs[meta_objective]["loss_gild"], list(loss.network_params.values(True, True)))
    torch.testing.assert_close(outs["tanh_diff"]["meta_utility"], outs["q_value"]["meta_utility"])
    factor = 1 - torch.tanh(outs["tanh_diff"]["meta_utility"].detach()) ** 2
    assert 0 < factor <= 1
    for tanh_grad, q_grad in zip(grads["tanh_diff"], grads["q_value"]):
        torch.testing.assert_close(tanh_grad, factor * q_grad)
    assert any(g.abs().max() > 1e-8 for g in grads["q_value"])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_after_warm_start_output_is_the_base_loss_output(objective, algorithm):
    loss = make_objective(objective, algorithm, warm_start=2)
    batch = make_input()
    for _ in range(2):
        assert loss.guiding
        loss(batch)
    assert not loss.guiding and loss.num_guided_updates == 2
    calls = []
    if objective != "il":
        network = getattr(loss, loss.network_name)
        network.register_forward_hook(lambda *args: calls.append(1))
    torch.manual_seed(5)
    out = loss(batch.clone())
    torch.manual_seed(5)
    expected = loss.base_loss(batch.exclude("demo", "validation"))
    assert set(out.keys()) == set(expected.keys())
    for key in expected.keys():
        torch.testing.assert_close(out[key], expected[key])
    sum(loss_entries(out).values()).backward()
    assert not calls, "the learned loss network must not run after the warm start"
    if objective != "il":
        assert all(p.grad is None for p in loss.network_params.values(True, True))


def test_fractional_warm_start_counts_actor_updates():
    assert resolve_warm_start(0.01, 1_000_000, 1) == 10_000
    assert resolve_warm_start(0.01, 1_000_000, 2) == 5_000
    assert resolve_warm_start(12, None, 2) == 12
    assert resolve_warm_start(None, None, 1) is None
    with pytest.raises(ValueError, match="total_updates"):
        resolve_warm_start(0.5, None, 1)
    with pytest.raises(ValueError, match="warm_start=1.5"):
        resolve_warm_start(1.5, 10, 1)
    with pytest.raises(ValueError, match="warm_start=-1"):
        resolve_warm_start(-1, 10, 1)
    with pytest.raises(TypeError, match="warm_start='x'"):
        resolve_warm_start("x", 10, 1)


def test_td3_policy_delay_runs_gild_only_on_actor_updates():
    loss = make_objective("gild", "td3", policy_delay=None, diagnostics_interval=0)
    assert loss.policy_delay == 2
    calls = []
    loss.gild_network.register_forward_hook(lambda *args: calls.append(1))
    batch = make_input()
    first, second, third = loss(batch), loss(batch), loss(batch)
    assert {"loss_actor", "loss_qvalue", "loss_gild"} <= set(first.keys())
    assert set(loss_entries(second)) == {"loss_qvalue"}
    assert "loss_gild" in third.keys()
    assert len(calls) == 2 and loss.num_updates == 3 and loss.num_guided_updates == 2
    reached = grads_by_group(loss, second["loss_qvalue"])
    assert reached == {"actor": False, "critic": True, "network": False}


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_state_dict_round_trip_keeps_counters_and_parameters(objective):
    loss = make_objective(objective, "td3", policy_delay=None, warm_start=5)
    batch = make_input()
    for _ in range(3):
        loss(batch)
    state = loss.state_dict()
    restored = make_objective(objective, "td3", seed=123, policy_delay=None, warm_start=5)
    restored.load_state_dict(state)
    assert (restored.num_updates, restored.num_guided_updates) == (3, 2)
    for (name, a), (_, b) in zip(loss.state_dict().items(), restored.state_dict().items()):
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b), name
    # the resumed schedule continues where it stopped: update 4 is a critic-only update
    assert not restored.next_update_trains_actor


def test_set_keys_renames_the_demo_and_validation_batches():
    loss = make_objective("gild", "ddpg")
    loss.set_keys(demo=("extra", "demonstrations"), validation="val_states")
    batch = make_input()
    renamed = batch.exclude("demo", "validation")
    renamed.set(("extra", "demonstrations"), batch["demo"])
    renamed.set("val_states", batch["validation"])
    out = loss(renamed)
    assert "loss_gild" in out.keys()
    with pytest.raises(KeyError, match=r"demonstration batch at key \('extra', 'demonstrations'\)"):
        loss(batch.exclude("demo"))
    with pytest.raises(ValueError, match="not an accepted tensordict key"):
        loss.set_keys(demos="x")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_input_is_untouched_except_for_the_base_loss_priority(objective, algorithm):
    loss = make_objective(objective, algorithm)
    batch = make_input()
    before = batch.clone()
    loss(batch)
    priority = loss.base_loss.tensor_keys.priority
    assert set(batch.keys(True, True)) == set(before.keys(True, True)) | {priority}
    for key in before.keys(True, True):
        assert torch.equal(batch[key], before[key]), key


def test_missing_validation_batch_uses_replay_states():
    loss = make_objective("gild", "td3")
    with_val = make_input(validation=12)
    with_val["validation"] = TensorDict({"observation": with_val["observation"]}, [12])
    without = make_input(validation=None)
    torch.manual_seed(0)
    a = loss(with_val)
    loss.num_updates = 0
    torch.manual_seed(0)
    b = loss(without)
    torch.testing.assert_close(a["value_lookahead"], b["value_lookahead"])
    torch.testing.assert_close(a["loss_gild"], b["loss_gild"])


@pytest.mark.parametrize("algorithm", ["td3", "sac"])
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_vmap_on_and_off_agree(objective, algorithm):
    on = make_objective(objective, algorithm)
    off = make_objective(objective, algorithm, deactivate_vmap=True)  # same seed: same parameters
    for a, b in zip(on.parameters(), off.parameters()):
        assert torch.equal(a, b)
    batch = make_input()
    torch.manual_seed(9)
    a = on(batch.clone())
    torch.manual_seed(9)
    b = off(batch.clone())
    for key in a.keys():
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


def test_bc_initialisation_points_gild_gradient_along_bc_gradient():
    torch.manual_seed(0)
    loss = GILDLoss(make_base_loss("td3", OBS, make_action_spec(ACT), num_cells=(32, 32)), GILDNetwork(OBS, ACT, (64, 64)), init="bc")
    g = torch.Generator().manual_seed(0)
    demos = TensorDict({"observation": torch.randn(400, OBS, generator=g), "action": torch.rand(400, ACT, generator=g) * 2 - 1}, [400])
    metrics = loss.fit_to_behaviour_cloning(demos, steps=1500, generator=g)
    assert metrics["bc_fit_grad_cosine"] > 0.9
    assert metrics["bc_fit_mse"] < 0.1 * metrics["bc_fit_target_var"]
    # on the actor's own actions for demo states: d f / d a against d BC / d a = 2 (a - a_d) / n
    demo = demos[:64]
    action, _ = loss.adapter.policy(demo, loss.adapter.actor_params)
    action = action.detach().requires_grad_()
    (grad_gild,) = torch.autograd.grad(loss.learned_loss_value(action, demo["observation"], demo["action"]).sum(), action)
    grad_bc = 2 * (action - demo["action"]).detach()
    cosine = torch.nn.functional.cosine_similarity(grad_gild, grad_bc, dim=-1)
    assert cosine.mean() > 0.9
    random = GILDLoss(make_base_loss("td3", OBS, make_action_spec(ACT), num_cells=(32, 32)), GILDNetwork(OBS, ACT, (64, 64)))
    (grad_random,) = torch.autograd.grad(random.learned_loss_value(action, demo["observation"], demo["action"]).sum(), action)
    assert torch.nn.functional.cosine_similarity(grad_random, grad_bc, dim=-1).mean() < 0.5
    # forward does not fit again, and the flag survives a state_dict round trip
    state = loss.state_dict()
    fresh = GILDLoss(make_base_loss("td3", OBS, make_action_spec(ACT), num_cells=(32, 32)), GILDNetwork(OBS, ACT, (64, 64)), init="bc")
    fresh.load_state_dict(state)
    assert fresh.bc_fitted


def test_bc_initialisation_fits_lazily_on_the_first_demo_batch():
    loss = make_objective("gild", "ddpg", init="bc")
    assert not loss.bc_fitted
    loss(make_input(demo=40))
    assert loss.bc_fitted and loss.bc_fit_metrics["bc_fit_grad_cosine"] > 0


def test_bad_arguments_raise_one_clear_error():
    base = make_base_loss("td3", OBS, make_action_spec(ACT), num_cells=(8,))
    with pytest.raises(TypeError, match="base_loss is a Linear"):
        GILDLoss(torch.nn.Linear(2, 2), observation_dim=OBS, action_dim=ACT)
    with pytest.raises(ValueError, match="meta_objective='tanh'"):
        GILDLoss(base, observation_dim=OBS, action_dim=ACT, meta_objective="tanh")
    with pytest.raises(ValueError, match="init='zeros'"):
        GILDLoss(base, observation_dim=OBS, action_dim=ACT, init="zeros")
    with pytest.raises(ValueError, match="observation_dim and action_dim"):
        MetaCriticLoss(base)
    with pytest.raises(ValueError, match="policy_delay=0"):
        ILLoss(base, policy_delay=0)
    with pytest.raises(ValueError, match="total_updates"):
        ILLoss(base, warm_start=0.01)


def test_summed_losses_train_with_one_backward_and_change_only_their_groups():
    """One recipe-style update: every optimizer steps on one backward of the summed loss_* entries."""
    loss = make_objective("gild", "sac")
    groups = parameter_groups(loss)
    optimizers = {name: torch.optim.SGD(params, lr=0.1) for name, params in groups.items()}
    before = {name: [p.detach().clone() for p in params] for name, params in groups.items()}
    out = loss(make_input())
    sum(loss_entries(out).values()).backward()
    for optimizer in optimizers.values():
        optimizer.step()
    for name, params in groups.items():
        assert any(not torch.equal(p, q) for p, q in zip(params, before[name])), name


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_demonstration_divergence_matches_a_hand_computation(algorithm):
    """The paper's divergence analysis: MSE of the deterministic action to the demonstrated one (and SAC's NLL)."""
    loss = make_objective("rl", algorithm)
    demo = make_input()["demo"]
    torch.manual_seed(5)
    before = torch.get_rng_state()
    result = loss.demonstration_divergence(demo)
    assert torch.equal(torch.get_rng_state(), before)  # training's random stream is untouched
    actor = loss.base_loss.actor_network
    with torch.no_grad():
        if algorithm == "sac":
            dist = actor.get_dist(demo.select("observation"))
            action = dist.deterministic_sample
            low, high = torch.as_tensor(dist.low), torch.as_tensor(dist.high)
            inset = 1e-3 * (high - low) / 2
            clamped = torch.maximum(torch.minimum(demo["action"], high - inset), low + inset)
            assert result["demo_nll"] == pytest.approx(float(-dist.log_prob(clamped).mean()), rel=1e-5)
        else:
            action = actor(demo.select("observation"))["action"]
            assert "demo_nll" not in result
    assert result["demo_action_mse"] == pytest.approx(float(((action - demo["action"]) ** 2).mean()), rel=1e-5)
