"""RL+IL: the base actor loss plus behaviour cloning on demonstration batches (the paper's IL baseline)."""

from __future__ import annotations

from typing import Any

from tensordict import TensorDictBase
from torchrl.objectives import LossModule

from gild_torchrl.objectives.behaviour_cloning import behaviour_cloning_loss, demonstration_metrics
from gild_torchrl.objectives.common import BaseLossWrapper


class ILLoss(BaseLossWrapper):
    """``loss_actor = L_RL + bc_coeff * L_IL`` on actor updates, for the whole run or a warm start.

    L_IL is the MSE between the actor's and the demonstrated actions for a deterministic actor,
    the negative log-likelihood of the demonstrated actions for a stochastic one. With
    ``warm_start=K`` it is BC for the first K actor updates and plain RL afterwards: the fair
    control for GILD's warm start. Diagnostics: ``bc_loss`` and ``demo_action_mse``.
    """

    has_guide = True
    uses_demonstrations = True

    def __init__(
        self,
        base_loss: LossModule,
        *,
        bc_coeff: float = 1.0,
        bc_action_margin: float = 1e-3,
        warm_start: int | float | None = None,
        total_updates: int | None = None,
        policy_delay: int | None = None,
        fast_path: bool = True,
        **drop_in: Any,
    ) -> None:
        """``**drop_in``: ``demonstrations``, ``demo_batch_size``, ``seed`` (see :class:`BaseLossWrapper`)."""
        super().__init__(base_loss, policy_delay=policy_delay, warm_start=warm_start, total_updates=total_updates,
                         fast_path=fast_path, **drop_in)
        self.bc_coeff = float(bc_coeff)
        self.bc_action_margin = bc_action_margin

    def _guided_update(self, tensordict: TensorDictBase) -> TensorDictBase:
        out = self._base_forward(tensordict, self.adapter.forward)
        demo = self._demo_batch(tensordict)
        demo_action = demo.get(self.adapter.action_key)
        policy_action, distribution = self.adapter.policy(demo, self.adapter.actor_params)
        bounds = self.adapter.action_bounds(distribution)
        bc = behaviour_cloning_loss(policy_action, distribution, demo_action, bounds, self.bc_action_margin)
        out["loss_actor"] = out["loss_actor"] + self.bc_coeff * bc
        out.update(demonstration_metrics(policy_action, distribution, demo_action, bc))
        return out
