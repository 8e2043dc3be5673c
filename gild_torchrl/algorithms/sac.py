"""SAC (Haarnoja et al., 2018; v2, twin critics, no value network) over the paper's networks:
TorchRL's ``SACLoss``, its options from the ``sac:`` config section, its adapter and its
plain-tensor path, registered as ``algorithm=sac``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded
from torchrl.envs.utils import ExplorationType, set_exploration_type
from torchrl.modules.distributions.utils import rsample_and_log_prob
from torchrl.objectives import SACLoss
from torchrl.objectives.utils import distance_loss

from gild_torchrl.algorithms.base import Algorithm, BaseLossAdapter, register_algorithm
from gild_torchrl.algorithms.plain_tensors import FastLoss, plain_tensor_path
from gild_torchrl.modules.models import make_qvalue, make_stochastic_actor
from gild_torchrl.tasks import base_task_id


def make_sac_loss(observation_dim: int, action_spec: Bounded, *, num_cells: Sequence[int] = (256, 256),
                  alpha_init: float = 0.2, fixed_alpha: bool = True, deactivate_vmap: bool = False,
                  **_: object) -> SACLoss:
    """TorchRL's SACLoss (v2: twin Q critics, no V network), temperature fixed or tuned."""
    loss = SACLoss(
        make_stochastic_actor(observation_dim, action_spec, num_cells),
        make_qvalue(observation_dim, action_spec.shape[-1], num_cells),
        num_qvalue_nets=2,
        loss_function="l2",
        alpha_init=alpha_init,
        fixed_alpha=fixed_alpha,
        action_spec=action_spec,
        deactivate_vmap=deactivate_vmap,
    )
    # SACLoss registers this buffer on first use: make it now, so that the state_dicts of a
    # fresh and a trained loss have the same keys (checkpoints, resume)
    loss.target_entropy  # noqa: B018
    return loss


#: SAC's temperature is fixed at 0.2 on Hopper and HalfCheetah, tuned on Walker2d and Ant (spec).
SAC_TUNED_ALPHA_TASKS = ("Walker2d-v5", "Ant-v5")


def sac_options(cfg) -> dict[str, Any]:
    """The ``sac:`` section's temperature: ``fixed_alpha: null`` fixes it or tunes it by task."""
    fixed = cfg.sac.fixed_alpha
    if fixed is None:
        fixed = base_task_id(cfg.env.name) not in SAC_TUNED_ALPHA_TASKS
    return {"alpha_init": cfg.sac.alpha_init, "fixed_alpha": bool(fixed)}


class FastSAC(FastLoss):
    """SACLoss (version 2): actor_loss, qvalue_v2_loss, the temperature loss and forward."""

    def actor_loss(self, tensordict: TensorDictBase, actor_params: TensorDictBase | None = None, metadata: bool = True):
        loss = self.loss
        values = self._with_actor(loss.actor_network_params if actor_params is None else actor_params, tensordict)
        log_prob = values.pop("log_prob")
        min_q = self._q(loss._cached_detached_qvalue_params, values, loss.num_qvalue_nets).min(0)[0]
        loss_actor = loss._alpha * log_prob - min_q
        return self._reduce(loss_actor, tensordict), {"log_prob": log_prob.detach()}

    def value_loss(self, tensordict: TensorDictBase):
        loss = self.loss
        with torch.no_grad():
            nxt = self._with_actor(loss.actor_network_params, tensordict, nested=True)
            next_log_prob = nxt.pop("log_prob").unsqueeze(-1)
            q = self._q(loss.target_qvalue_network_params, nxt, loss.num_qvalue_nets).unsqueeze(-1)
            next_state_value = (q - loss._alpha * next_log_prob).min(0)[0]
            target_value = self._td0(tensordict, next_state_value).squeeze(-1)
        pred_val = self._q(loss.qvalue_network_params, self._inputs(tensordict, self.critic.in_keys), loss.num_qvalue_nets)
        td_error = abs(pred_val - target_value)
        loss_qval = distance_loss(pred_val, target_value.expand_as(pred_val), loss_function=loss.loss_function).sum(0)
        return self._reduce(loss_qval, tensordict), {"td_error": td_error.detach().max(0)[0]}

    def critic_losses(self, tensordict: TensorDictBase) -> TensorDict:
        loss_qvalue, metadata = self.value_loss(tensordict)
        tensordict.set(self.tk.priority, metadata["td_error"])
        return TensorDict(loss_qvalue=loss_qvalue)

    def forward(self, tensordict: TensorDictBase) -> TensorDict:
        loss = self.loss
        loss_qvalue, value_metadata = self.value_loss(tensordict)
        loss_actor, metadata_actor = self.actor_loss(tensordict)
        loss_alpha = self._reduce(loss._alpha_loss(log_prob=metadata_actor["log_prob"]), tensordict)
        tensordict.set(self.tk.priority, value_metadata["td_error"])
        entropy = -metadata_actor["log_prob"]
        return TensorDict({"loss_actor": loss_actor, "loss_qvalue": loss_qvalue, "loss_alpha": loss_alpha,
                           "alpha": loss._alpha, "entropy": entropy.detach().mean()}, batch_size=[])


class SACAdapter(BaseLossAdapter):
    loss_class = SACLoss

    @classmethod
    def plain_tensor_path(cls, loss):
        if type(loss).forward is not SACLoss.forward or loss._version != 2 or loss.skip_done_states:
            return None
        return plain_tensor_path(loss, FastSAC, loss.qvalue_network, loss.qvalue_network_params)

    stochastic = True

    def _actor_loss(self, tensordict):
        return self.loss.actor_loss(tensordict)

    def policy(self, tensordict, params):
        td = tensordict.select(*self.actor_in_keys, strict=True)
        with set_exploration_type(ExplorationType.RANDOM), params.to_module(self.loss.actor_network):
            dist = self.loss.actor_network.get_dist(td)
            action, _ = rsample_and_log_prob(dist)
        return action, dist

    def action_bounds(self, distribution):
        low, high = getattr(distribution, "low", None), getattr(distribution, "high", None)
        if low is None or high is None:
            return None
        return torch.as_tensor(low), torch.as_tensor(high)

    def critic_loss(self, tensordict):
        fast = self._fast_for(tensordict)
        if fast is not None:
            return fast.critic_losses(tensordict)
        out = {}
        if self.loss._version == 1:
            out["loss_qvalue"], metadata = self.loss.qvalue_v1_loss(tensordict)
            out["loss_value"], _ = self.loss.value_loss(tensordict)
        else:
            out["loss_qvalue"], metadata = self.loss.qvalue_v2_loss(tensordict)
        tensordict.set(self.loss.tensor_keys.priority, metadata["td_error"])
        return TensorDict(out)


ALGORITHM = register_algorithm(Algorithm("sac", make_sac_loss, options=sac_options, stochastic_actor=True, adapter=SACAdapter))
