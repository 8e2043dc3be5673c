"""GILD before the first reward: meta_start, the meta optimiser's weight decay, the diagnostics, IL's warm start."""

from __future__ import annotations

import pytest
import torch

from gild_torchrl.objectives.gild import gradient_alignment
from gild_torchrl.optim import make_meta_optimizer

from objective_factories import make_input, make_objective


def _snapshot(loss, optimizer):
    params = [p.detach().clone() for p in loss.network_params.values(True, True)]
    state = {k: {n: v.clone() if torch.is_tensor(v) else v for n, v in s.items()} for k, s in optimizer.state_dict()["state"].items()}
    return params, state


def _train_step(loss, optimizers, batch):
    out = loss(batch)
    for optimizer in optimizers:
        optimizer.zero_grad(set_to_none=True)
    sum(v for k, v in out.items() if k.startswith("loss_")).backward()
    for optimizer in optimizers:
        optimizer.step()
    return out


@pytest.mark.parametrize("algorithm", ["td3", "sac"])
def test_first_reward_holds_omega_and_its_optimizer_bit_identical_until_told(algorithm):
    loss = make_objective("gild", algorithm, meta_start="first_reward", warm_start=3)
    actor = torch.optim.Adam(loss.base_loss.actor_network_params.values(True, True), lr=1e-2)
    meta = make_meta_optimizer(loss.network_params.values(True, True), lr=1e-2, weight_decay=1e-2, decay="coupled")
    batch = make_input()
    params_before, state_before = _snapshot(loss, meta)
    actor_before = [p.detach().clone() for p in loss.base_loss.actor_network_params.values(True, True)]
    for _ in range(4):
        out = _train_step(loss, [actor, meta], batch)
        assert "loss_gild" not in out.keys() and float(out["meta_step"]) == 0.0
    params_after, state_after = _snapshot(loss, meta)
    assert all(torch.equal(a, b) for a, b in zip(params_before, params_after))
    assert state_before == state_after == {}
    # meanwhile the GILD term shaped the actor, and the warm start has not begun
    assert any(not torch.equal(a, p) for a, p in zip(actor_before, loss.base_loss.actor_network_params.values(True, True)))
    assert loss.num_guided_updates == 0 and loss.guiding

    loss.start_meta_learning()
    out = _train_step(loss, [actor, meta], batch)
    assert "loss_gild" in out.keys() and float(out["meta_step"]) == 1.0 and float(out["meta_grad_norm"]) > 0
    assert loss.num_guided_updates == 1
    assert any(not torch.equal(a, p) for a, p in zip(params_before, loss.network_params.values(True, True)))
    for _ in range(2):
        _train_step(loss, [actor, meta], batch)
    assert not loss.guiding  # three meta steps: the warm start of 3 counted from the first one


def test_meta_started_survives_a_state_dict_round_trip():
    loss = make_objective("gild", "ddpg", meta_start="first_reward")
    restored = make_objective("gild", "ddpg", meta_start="first_reward")
    loss.start_meta_learning()
    loss(make_input())
    restored.load_state_dict(loss.state_dict())
    assert restored.meta_started and restored.num_guided_updates == 1
    fresh = make_objective("gild", "ddpg", meta_start="first_reward")
    fresh.load_state_dict(make_objective("gild", "ddpg", meta_start="first_reward").state_dict())
    assert not fresh.meta_started


@pytest.mark.parametrize("decay", ["coupled", "decoupled", "none"])
def test_weight_decay_kinds_match_a_hand_computed_adam_step(decay):
    lr, wd, eps = 0.1, 0.5, 1e-8
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    grad = torch.tensor([0.3, 0.4])
    optimizer = make_meta_optimizer([w], lr=lr, weight_decay=wd, decay=decay)
    w.grad = grad.clone()
    optimizer.step()
    w0 = torch.tensor([1.0, -2.0])
    # Adam's first step with bias correction: m_hat = g, v_hat = g^2, so the step is lr * g / (|g| + eps)
    if decay == "coupled":  # L2 added to the gradient before normalisation
        g = grad + wd * w0
        expected = w0 - lr * g / (g.abs() + eps)
    elif decay == "decoupled":  # AdamW: shrink the weights, then the normalised step
        expected = w0 * (1 - lr * wd) - lr * grad / (grad.abs() + eps)
    else:
        expected = w0 - lr * grad / (grad.abs() + eps)
    torch.testing.assert_close(w.detach(), expected)


def test_unknown_weight_decay_kind_is_one_clear_error():
    with pytest.raises(ValueError, match="decay='l1'; expected one of"):
        make_meta_optimizer([torch.nn.Parameter(torch.zeros(1))], decay="l1")


def test_gradient_alignment_on_known_vectors():
    cosine, ratio = gradient_alignment(torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 2.0]]))
    assert float(cosine) == pytest.approx(0.0) and float(ratio) == pytest.approx(1.5)
    cosine, ratio = gradient_alignment(torch.tensor([1.0, 1.0]), torch.tensor([-2.0, -2.0]))
    assert float(cosine) == pytest.approx(-1.0) and float(ratio) == pytest.approx(0.5)
    cosine, _ = gradient_alignment(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0]))
    assert float(cosine) == pytest.approx(2**-0.5)


def test_gradient_alignment_of_a_vanishing_gradient_stays_a_cosine():
    # a GILD gradient shrunk to 1e-25 (as the faithful setting's does during a long warm start)
    generator = torch.Generator().manual_seed(0)
    grad, reference = torch.randn(256, 3, generator=generator), torch.randn(256, 3, generator=generator)
    cosine, ratio = gradient_alignment(1e-25 * grad, 1e-3 * reference)
    exact = torch.nn.functional.cosine_similarity(grad.double().flatten(), reference.double().flatten(), dim=0)
    assert float(cosine) == pytest.approx(float(exact), abs=1e-5)
    assert float(ratio) == pytest.approx(1e-22 * float(grad.norm() / reference.norm()), rel=1e-4)
    assert gradient_alignment(torch.zeros(4), torch.ones(4)) == (0.0, 0.0)


def test_gild_diagnostics_match_an_independent_computation():
    loss = make_objective("gild", "td3", diagnostics_interval=1)
    batch = make_input()
    out = loss(batch)
    demo = batch["demo"]
    action, _ = loss.adapter.policy(demo, loss.adapter.actor_params)
    action = action.detach().requires_grad_()
    rows = loss.learned_loss_value(action, demo["observation"], demo["action"])
    (grad_gild,) = torch.autograd.grad(rows.mean(), action)
    mse_action = action.detach().clone().requires_grad_()
    (grad_bc,) = torch.autograd.grad(torch.nn.functional.mse_loss(mse_action, demo["action"]), mse_action)
    cosine = torch.nn.functional.cosine_similarity(grad_gild.flatten(), grad_bc.flatten(), dim=0)
    torch.testing.assert_close(out["gild_bc_cosine"], cosine)
    torch.testing.assert_close(out["gild_bc_norm_ratio"], grad_gild.norm() / grad_bc.norm())
    torch.testing.assert_close(out["gild_output_std"], rows.detach().std())
    # the meta-gradient norm is the norm of what loss_gild sends to omega
    omega = list(loss.network_params.values(True, True))
    grads = torch.autograd.grad(out["loss_gild"], omega)
    torch.testing.assert_close(out["meta_grad_norm"], torch.sqrt(sum((g**2).sum() for g in grads)))


def test_costly_diagnostics_run_every_interval_updates():
    loss = make_objective("gild", "ddpg", diagnostics_interval=3)
    batch = make_input()
    present = ["gild_bc_cosine" in loss(batch).keys() for _ in range(7)]
    assert present == [True, False, False, True, False, False, True]


@pytest.mark.parametrize("algorithm", ["ddpg", "td3", "sac"])
def test_il_with_a_warm_start_is_the_base_loss_after_k_updates(algorithm):
    loss = make_objective("il", algorithm, warm_start=2, policy_delay=None)
    batch = make_input()
    delay = loss.policy_delay
    for _ in range(2 * delay):
        out = loss(batch)
    assert loss.num_guided_updates == 2 and not loss.guiding
    torch.manual_seed(11)
    out = loss(batch.clone())
    torch.manual_seed(11)
    expected = loss.base_loss(batch.exclude("demo", "validation"))
    assert "bc_loss" not in out.keys()
    for key in expected.keys():
        torch.testing.assert_close(out[key], expected[key])


def test_meta_critic_logs_the_spread_of_its_learned_loss_over_the_replay_batch():
    """aux_output_std: Meta-Critic's counterpart of gild_output_std (the collapse census reads both)."""
    loss = make_objective("meta_critic", "td3")
    batch = make_input()
    out = loss(batch)
    replay = batch.exclude("demo", "validation")
    action, _ = loss.adapter.policy(replay, loss.adapter.actor_params)
    rows = loss.learned_loss_value(action.detach(), replay["observation"])
    torch.testing.assert_close(out["aux_output_std"], rows.std())
    torch.testing.assert_close(out["aux_loss"], rows.mean())
