"""TD3 (Fujimoto et al., 2018) over the paper's networks: TorchRL's ``TD3Loss``, its options from
the ``td3:`` config section, its adapter and its plain-tensor path, registered as ``algorithm=td3``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded
from torchrl.objectives import TD3Loss
from torchrl.objectives.utils import distance_loss

from gild_torchrl.algorithms.base import Algorithm, BaseLossAdapter, register_algorithm
from gild_torchrl.algorithms.plain_tensors import FastLoss, plain_tensor_path
from gild_torchrl.modules.models import make_deterministic_actor, make_qvalue


def make_td3_loss(observation_dim: int, action_spec: Bounded, *, num_cells: Sequence[int] = (256, 256),
                  policy_noise: float = 0.2, noise_clip: float = 0.5, deactivate_vmap: bool = False, **_: object) -> TD3Loss:
    """TorchRL's TD3Loss: twin critics, target policy smoothing (noise 0.2 clipped at 0.5)."""
    return TD3Loss(
        make_deterministic_actor(observation_dim, action_spec, num_cells),
        make_qvalue(observation_dim, action_spec.shape[-1], num_cells),
        action_spec=action_spec,
        num_qvalue_nets=2,
        policy_noise=policy_noise,
        noise_clip=noise_clip,
        loss_function="l2",
        deactivate_vmap=deactivate_vmap,
    )


def td3_options(cfg) -> dict[str, Any]:
    """The ``td3:`` section's target policy smoothing."""
    return {"policy_noise": cfg.td3.policy_noise, "noise_clip": cfg.td3.noise_clip}


class FastTD3(FastLoss):
    """TD3Loss.actor_loss, value_loss and forward."""

    def actor_loss(self, tensordict: TensorDictBase, actor_params: TensorDictBase | None = None, metadata: bool = True):
        """``metadata=False``: the loss alone (the lookahead's values), without the other critics' values."""
        loss = self.loss
        values = self._with_actor(loss.actor_network_params if actor_params is None else actor_params, tensordict)
        detached = loss._cached_detach_qvalue_network_params
        key = self.tk.state_action_value
        q1 = self.critic(detached, dict(values), 0)[key].squeeze(-1)
        if not metadata:
            return self._reduce(-q1, tensordict), {}
        with torch.no_grad():  # TorchRL evaluates every critic here but trains on the first alone
            others = [self.critic(detached, dict(values), i)[key].squeeze(-1) for i in range(1, loss.num_qvalue_nets)]
        return self._reduce(-q1, tensordict), {"state_action_value_actor": torch.stack([q1.detach(), *others])}

    def value_loss(self, tensordict: TensorDictBase):
        loss = self.loss
        act = tensordict.get(self.tk.action)
        noise = (torch.randn_like(act) * loss.policy_noise).clamp(-loss.noise_clip, loss.noise_clip)
        with torch.no_grad():
            nxt = self._with_actor(loss.target_actor_network_params, tensordict, nested=True)
            nxt[self.tk.action] = (nxt[self.tk.action] + noise).clamp(loss.min_action, loss.max_action)
            next_target_qvalue = self._q(loss.target_qvalue_network_params, nxt, loss.num_qvalue_nets).min(0)[0]
        current = self._q(loss.qvalue_network_params, self._inputs(tensordict, self.critic.in_keys), loss.num_qvalue_nets)
        target_value = self._td0(tensordict, next_target_qvalue.unsqueeze(-1)).squeeze(-1)
        td_error = (current - target_value).pow(2)
        loss_qval = distance_loss(current, target_value.expand_as(current), loss_function=loss.loss_function).sum(0)
        metadata = {"td_error": td_error, "next_state_value": next_target_qvalue.detach(),
                    "pred_value": current.detach(), "target_value": target_value.detach()}
        return self._reduce(loss_qval, tensordict), metadata

    def critic_losses(self, tensordict: TensorDictBase) -> TensorDict:
        loss_qvalue, metadata = self.value_loss(tensordict)
        tensordict.set(self.tk.priority, metadata.pop("td_error").detach().max(0)[0])
        return TensorDict(loss_qvalue=loss_qvalue, **metadata)

    def forward(self, tensordict: TensorDictBase) -> TensorDict:
        loss_actor, metadata_actor = self.actor_loss(tensordict)
        loss_qval, metadata_value = self.value_loss(tensordict)
        tensordict.set(self.tk.priority, metadata_value.pop("td_error").detach().max(0)[0])
        return TensorDict(loss_actor=loss_actor, loss_qvalue=loss_qval, **metadata_actor, **metadata_value)


class TD3Adapter(BaseLossAdapter):
    loss_class = TD3Loss

    @classmethod
    def plain_tensor_path(cls, loss):
        if type(loss).forward is not TD3Loss.forward:
            return None
        return plain_tensor_path(loss, FastTD3, loss.qvalue_network, loss.qvalue_network_params)

    default_policy_delay = 2

    def _actor_loss(self, tensordict):
        return self.loss.actor_loss(tensordict)

    def critic_loss(self, tensordict):
        fast = self._fast_for(tensordict)
        if fast is not None:
            return fast.critic_losses(tensordict)
        loss_qvalue, metadata = self.loss.value_loss(tensordict)
        tensordict.set(self.loss.tensor_keys.priority, metadata.pop("td_error").detach().max(0)[0])
        return TensorDict(loss_qvalue=loss_qvalue, **metadata)


ALGORITHM = register_algorithm(Algorithm("td3", make_td3_loss, options=td3_options,
                                         policy_delay=lambda cfg: int(cfg.td3.policy_delay), adapter=TD3Adapter))
