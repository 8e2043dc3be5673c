"""Meta-Critic (Zhou et al., NeurIPS 2020): GILD's mechanism with no demonstrations."""

from __future__ import annotations

from typing import Any

import torch
from tensordict import TensorDictParams
from torchrl.objectives import LossModule

from gild_torchrl.modules import MetaCriticNetwork
from gild_torchrl.objectives.lookahead import MetaLookaheadLoss


class MetaCriticLoss(MetaLookaheadLoss):
    """RL + Meta-Critic: an auxiliary loss h_omega(pi(s), s) on replay states, the plain RL step as reference.

    Output: the base loss's entries with ``loss_actor`` now ``L_RL + L_aux``, plus
    ``loss_meta_critic`` (trains only h_omega) and the diagnostics ``aux_loss``,
    ``aux_output_std`` (spread of h_omega over the replay batch), ``meta_utility``,
    ``value_lookahead``, ``value_reference`` and ``meta_grad_norm``.
    """

    network_name = "meta_critic_network"
    meta_loss_key = "loss_meta_critic"
    learned_loss_key = "aux_loss"

    meta_critic_network: torch.nn.Module
    meta_critic_network_params: TensorDictParams
    target_meta_critic_network_params: TensorDictParams

    def __init__(
        self,
        base_loss: LossModule,
        meta_critic_network: torch.nn.Module | None = None,
        *,
        observation_dim: int | None = None,
        action_dim: int | None = None,
        **kwargs: Any,
    ) -> None:
        """``**kwargs``: the options of :class:`~gild_torchrl.objectives.lookahead.MetaLookaheadLoss`."""
        if meta_critic_network is None:
            if observation_dim is None or action_dim is None:
                raise ValueError("Pass a meta_critic_network, or observation_dim and action_dim to build the default one.")
            meta_critic_network = MetaCriticNetwork(observation_dim, action_dim)
        super().__init__(base_loss, meta_critic_network, **kwargs)

    def _learned_loss(self, tensordict, actor_params):
        replay = self._replay_batch(tensordict)
        policy_action, _ = self.adapter.policy(replay, actor_params)
        states = self.adapter.states(replay)
        rows = self.learned_loss_value(policy_action, states)
        return rows.mean(), {"rows": rows}

    def _metrics(self, context, reference_loss):
        # as GILD's gild_output_std: 0 once h_omega no longer varies over the batch (no pull on the actor)
        return {"aux_output_std": context["rows"].detach().std()}
