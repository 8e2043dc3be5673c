"""DDPG (Lillicrap et al., 2016) over the paper's networks: TorchRL's ``DDPGLoss``, its adapter and
its plain-tensor path, registered as ``algorithm=ddpg`` (it reads no config section of its own)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded
from torchrl.objectives import DDPGLoss
from torchrl.objectives.utils import distance_loss

from gild_torchrl.algorithms.base import Algorithm, BaseLossAdapter, register_algorithm
from gild_torchrl.algorithms.plain_tensors import FastLoss, plain_tensor_path
from gild_torchrl.modules.models import make_deterministic_actor, make_qvalue


def make_ddpg_loss(observation_dim: int, action_spec: Bounded, *, num_cells: Sequence[int] = (256, 256),
                   **_: object) -> DDPGLoss:
    """TorchRL's DDPGLoss: one critic, target actor and critic."""
    return DDPGLoss(
        make_deterministic_actor(observation_dim, action_spec, num_cells),
        make_qvalue(observation_dim, action_spec.shape[-1], num_cells),
        loss_function="l2",
        delay_actor=True,
        delay_value=True,
    )


class FastDDPG(FastLoss):
    """DDPGLoss.loss_actor, loss_value and forward."""

    def actor_loss(self, tensordict: TensorDictBase, actor_params: TensorDictBase | None = None, metadata: bool = True):
        loss = self.loss
        values = self._with_actor(loss.actor_network_params if actor_params is None else actor_params, tensordict)
        q = self.critic(loss._cached_detached_value_params, values)[self.tk.state_action_value].squeeze(-1)
        return self._reduce(-q, tensordict), {}

    def value_loss(self, tensordict: TensorDictBase):
        loss = self.loss
        pred = self.critic(loss.value_network_params, self._inputs(tensordict, self.critic.in_keys))
        pred_val = pred[self.tk.state_action_value].squeeze(-1)
        with torch.no_grad():
            nxt = self._with_actor(loss.target_actor_network_params, tensordict, nested=True)
            next_value = self.critic(loss.target_value_network_params, nxt)[self.tk.state_action_value]
        target_value = self._td0(tensordict, next_value).squeeze(-1)
        loss_value = distance_loss(pred_val, target_value, loss_function=loss.loss_function)
        td_error = (pred_val - target_value).pow(2).detach()
        tensordict.set(self.tk.priority, td_error, inplace=True)
        with torch.no_grad():
            metadata = {"td_error": td_error, "pred_value": pred_val, "target_value": target_value,
                        "target_value_max": target_value.max(), "pred_value_max": pred_val.max()}
        return self._reduce(loss_value, tensordict), metadata

    def critic_losses(self, tensordict: TensorDictBase) -> TensorDict:
        loss_value, metadata = self.value_loss(tensordict)
        return TensorDict(loss_value=loss_value, **metadata)

    def forward(self, tensordict: TensorDictBase) -> TensorDict:
        loss_value, metadata = self.value_loss(tensordict)
        loss_actor, _ = self.actor_loss(tensordict)
        return TensorDict({"loss_actor": loss_actor, "loss_value": loss_value, **metadata}, batch_size=[])


class DDPGAdapter(BaseLossAdapter):
    loss_class = DDPGLoss

    @classmethod
    def plain_tensor_path(cls, loss):
        if type(loss).forward is not DDPGLoss.forward:
            return None
        return plain_tensor_path(loss, FastDDPG, loss.value_network, loss.value_network_params)

    def _actor_loss(self, tensordict):
        return self.loss.loss_actor(tensordict)

    def critic_loss(self, tensordict):
        fast = self._fast_for(tensordict)
        if fast is not None:
            return fast.critic_losses(tensordict)
        loss_value, metadata = self.loss.loss_value(tensordict)
        return TensorDict(loss_value=loss_value, **metadata)


ALGORITHM = register_algorithm(Algorithm("ddpg", make_ddpg_loss, adapter=DDPGAdapter))
