"""Small problems for the objective tests: tiny networks, random batches of known shapes."""

from __future__ import annotations

import torch
from tensordict import TensorDict

import gild_torchrl.algorithms
from gild_torchrl.algorithms import make_base_loss
from gild_torchrl.modules import make_action_spec
from gild_torchrl.objectives import BaseLossWrapper, GILDLoss, ILLoss, MetaCriticLoss, make_batch

OBS, ACT = 5, 2
CELLS = (16, 16)
ALGORITHMS = tuple(n for n, a in gild_torchrl.algorithms.ALGORITHMS.items() if a.off_policy)  # ddpg, td3, sac: every objective test covers each
OBJECTIVES = ("gild", "il", "meta_critic")
META_KEYS = {"gild": "loss_gild", "meta_critic": "loss_meta_critic"}
NETWORK_PARAMS = {"gild": "gild_network_params", "meta_critic": "meta_critic_network_params"}


def make_objective(objective: str, algorithm: str, dtype=torch.float32, seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    base = make_base_loss(
        algorithm, OBS, make_action_spec(ACT), num_cells=CELLS, fixed_alpha=False,
        deactivate_vmap=kwargs.pop("deactivate_vmap", False),
    )
    kwargs.setdefault("policy_delay", 1)
    if objective == "gild":
        from gild_torchrl.modules import GILDNetwork

        loss = GILDLoss(base, GILDNetwork(OBS, ACT, num_cells=CELLS), **kwargs)
    elif objective == "meta_critic":
        from gild_torchrl.modules import MetaCriticNetwork

        loss = MetaCriticLoss(base, MetaCriticNetwork(OBS, ACT, num_cells=CELLS), **kwargs)
    elif objective == "il":
        loss = ILLoss(base, **kwargs)
    elif objective == "rl":
        loss = BaseLossWrapper(base, **kwargs)
    else:
        raise ValueError(objective)
    return loss.to(dtype)


def make_input(batch: int = 12, demo: int = 7, validation: int | None = 9, dtype=torch.float32, seed: int = 1):
    g = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=g, dtype=dtype)

    replay = TensorDict(
        {
            "observation": rand(batch, OBS),
            "action": rand(batch, ACT).tanh(),
            "next": {
                "observation": rand(batch, OBS),
                "reward": rand(batch, 1),
                "done": torch.zeros(batch, 1, dtype=torch.bool),
                "terminated": torch.zeros(batch, 1, dtype=torch.bool),
            },
        },
        [batch],
    )
    demos = TensorDict({"observation": rand(demo, OBS), "action": rand(demo, ACT).tanh()}, [demo])
    val = None if validation is None else TensorDict({"observation": rand(validation, OBS)}, [validation])
    return make_batch(replay, demos, val)


def parameter_groups(loss) -> dict[str, list[torch.Tensor]]:
    """Every trainable tensor of the objective, by the group that should own its gradient."""
    base = loss.base_loss
    groups = {"actor": [p for p in base.actor_network_params.values(True, True) if p.requires_grad]}
    critic = getattr(base, "qvalue_network_params", None)
    if critic is None:
        critic = base.value_network_params
    groups["critic"] = [p for p in critic.values(True, True) if p.requires_grad]
    if isinstance(getattr(base, "log_alpha", None), torch.nn.Parameter):
        groups["alpha"] = [base.log_alpha]
    network = getattr(loss, "network_params", None)
    if network is not None:
        groups["network"] = list(network.values(True, True))
    return groups


def target_tensors(loss) -> list[torch.Tensor]:
    base = loss.base_loss
    out = []
    for name in ("target_actor_network_params", "target_qvalue_network_params", "target_value_network_params"):
        params = base._modules.get(name)
        if params is not None:
            out.extend(params.values(True, True))
    return out
