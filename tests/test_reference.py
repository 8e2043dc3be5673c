"""The project's base updates are the plain-PyTorch DDPG, TD3 and SAC updates, number for number.

Both start from the same weights, see the same batches and the same random draws (TD3's target
smoothing noise, SAC's action samples), and must end at the same parameters after 10 updates,
in float64. The reference (``benchmarks/plain_reference.py``) is also the floor the update
benchmark measures the project against, so no speed change can silently change the algorithm.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gild_torchrl import training
import torch
from hydra import compose, initialize_config_dir
from tensordict import TensorDict

from benchmarks.plain_reference import PLAIN

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
OBS, ACT, HIDDEN, BATCH = 6, 2, (16, 16), 32


def trainable_leaves(params, of=None) -> list[torch.Tensor]:
    """The trainable leaves of ``params``, or the leaves of ``params`` at ``of``'s trainable keys (its targets)."""
    keys = [k for k, p in (of if of is not None else params).items(True, True) if p.requires_grad]
    return [params.get(k) for k in keys]


def copy_into(reference_modules, leaves: list[torch.Tensor]) -> None:
    """The project's parameter leaves, in order, into the plain networks (a stacked twin critic is one leaf per net)."""
    plain = [p for module in reference_modules for p in module.parameters()]
    assert [p.shape for p in plain] == [p.shape for p in leaves]
    with torch.no_grad():
        for p, value in zip(plain, leaves):
            p.copy_(value)


def per_net(stacked: list[torch.Tensor], n: int) -> list[torch.Tensor]:
    return [leaf[i] for i in range(n) for leaf in stacked]


def float64_reference(algorithm: str, **kwargs):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return PLAIN[algorithm](OBS, ACT, HIDDEN, **kwargs)
    finally:
        torch.set_default_dtype(previous)


def project_and_reference(algorithm: str, tune_alpha: bool):
    """The recipe's loss, optimizers and target updater for ``loss.objective=rl``, and the plain update with its weights."""
    from gild_torchrl.algorithms import make_base_loss
    from gild_torchrl.modules import make_action_spec
    from gild_torchrl.objectives import BaseLossWrapper

    with initialize_config_dir(config_dir=str(RECIPES / "config"), version_base="1.3"):
        cfg = compose(config_name=f"{algorithm}_gild", overrides=["loss.objective=rl"])
    torch.manual_seed(0)
    base = make_base_loss(algorithm, OBS, make_action_spec(ACT), num_cells=HIDDEN, fixed_alpha=not tune_alpha)
    loss = BaseLossWrapper(base, policy_delay=cfg.td3.policy_delay if algorithm == "td3" else 1).double()
    optimizers = training.make_optimizers(cfg, loss)
    reference = float64_reference(algorithm, **({"tune_alpha": tune_alpha} if algorithm == "sac" else {}))
    actor = trainable_leaves(base.actor_network_params)
    if algorithm == "ddpg":
        copy_into([reference.actor], actor)
        copy_into([reference.actor_target], trainable_leaves(base.target_actor_network_params, base.actor_network_params))
        copy_into([reference.critic], trainable_leaves(base.value_network_params))
        copy_into([reference.critic_target], trainable_leaves(base.target_value_network_params, base.value_network_params))
    else:
        copy_into([reference.actor], actor)
        copy_into([reference.critics], per_net(trainable_leaves(base.qvalue_network_params), 2))
        copy_into([reference.critics_target], per_net(trainable_leaves(base.target_qvalue_network_params, base.qvalue_network_params), 2))
        if algorithm == "td3":
            copy_into([reference.actor_target], trainable_leaves(base.target_actor_network_params, base.actor_network_params))
    if algorithm == "sac":  # TorchRL stores log(alpha_init) rounded to float32 before the loss is cast
        with torch.no_grad():
            reference.log_alpha.copy_(base.log_alpha)
    return loss, optimizers, training.make_target_updater(cfg, loss), reference


def batch(generator: torch.Generator) -> TensorDict:
    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    terminated = torch.rand(BATCH, 1, generator=generator) < 0.2
    return TensorDict({
        "observation": randn(BATCH, OBS), "action": randn(BATCH, ACT).tanh(),
        "next": {"observation": randn(BATCH, OBS), "reward": randn(BATCH, 1), "terminated": terminated, "done": terminated},
    }, [BATCH])


@pytest.mark.parametrize("algorithm, tune_alpha", [("ddpg", False), ("td3", False), ("sac", False), ("sac", True)])
def test_the_base_update_is_the_plain_pytorch_update(algorithm, tune_alpha):
    loss, optimizers, updater, reference = project_and_reference(algorithm, tune_alpha)
    start = [p.detach().clone() for p in trainable_leaves(loss.base_loss.actor_network_params)]
    g = torch.Generator().manual_seed(1)
    for step in range(10):
        td = batch(g)
        torch.manual_seed(100 + step)
        training.update(loss, optimizers, updater, td.clone())
        torch.manual_seed(100 + step)
        reference.update(td["observation"], td["action"], td["next", "reward"], td["next", "observation"], td["next", "terminated"])

    base = loss.base_loss
    close = {"rtol": 1e-9, "atol": 1e-12}
    actor = trainable_leaves(base.actor_network_params)
    assert all(not torch.allclose(a, b) for a, b in zip(actor, start))  # it trained
    if algorithm == "ddpg":
        pairs = [(actor, reference.actor), (trainable_leaves(base.value_network_params), reference.critic),
                 (trainable_leaves(base.target_actor_network_params, base.actor_network_params), reference.actor_target),
                 (trainable_leaves(base.target_value_network_params, base.value_network_params), reference.critic_target)]
    else:
        pairs = [(actor, reference.actor), (per_net(trainable_leaves(base.qvalue_network_params), 2), reference.critics),
                 (per_net(trainable_leaves(base.target_qvalue_network_params, base.qvalue_network_params), 2), reference.critics_target)]
        if algorithm == "td3":
            pairs.append((trainable_leaves(base.target_actor_network_params, base.actor_network_params), reference.actor_target))
    for ours, plain in pairs:
        for a, b in zip(ours, plain.parameters()):
            torch.testing.assert_close(a.detach(), b.detach(), **close)
    if algorithm == "sac":
        torch.testing.assert_close(base.log_alpha.detach(), reference.log_alpha.detach(), **close)
        assert (float(base.log_alpha.detach()) != float(torch.tensor(0.2).log())) == tune_alpha
