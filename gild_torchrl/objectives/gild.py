"""GILD: a meta-learned imitation loss from sub-optimal demonstrations (Deng et al., AAAI 2025)."""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from tensordict import TensorDictBase, TensorDictParams
from torchrl.objectives import LossModule

from gild_torchrl.modules import GILDNetwork
from gild_torchrl.objectives.behaviour_cloning import behaviour_cloning_loss, demonstration_metrics
from gild_torchrl.objectives.lookahead import MetaLookaheadLoss

GILD_INITS = ("random", "bc")


def gradient_alignment(grad: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine between two gradients taken as flat vectors, and the ratio of their norms (grad / reference).

    Each vector is divided by its largest entry first: a GILD gradient that has shrunk to 1e-20
    would otherwise square to zero in float32 and give a cosine far outside [-1, 1].
    """
    grad, reference = grad.detach().flatten(), reference.detach().flatten()
    scale, reference_scale = grad.abs().max().clamp_min(1e-38), reference.abs().max().clamp_min(1e-38)
    grad, reference = grad / scale, reference / reference_scale
    norm, reference_norm = torch.linalg.vector_norm(grad), torch.linalg.vector_norm(reference)
    cosine = torch.dot(grad, reference) / (norm * reference_norm).clamp_min(1e-30)
    return cosine, (scale / reference_scale) * (norm / reference_norm.clamp_min(1e-30))


class GILDLoss(MetaLookaheadLoss):
    """RL + GILD over TorchRL's ``TD3Loss``, ``DDPGLoss`` or ``SACLoss``.

    The actor minimises ``L_RL + mean f_omega([pi(s_d), s_d, a_d])`` over the demo batch; the
    GILD network f_omega is meta-trained so that one step on that objective beats one step on
    ``L_RL + L_IL`` (behaviour cloning) in the base algorithm's own actor value, measured on
    the validation states (the replay batch's states when no validation batch is given).

    Output (actor updates while GILD is active): the base loss's entries with ``loss_actor``
    now ``L_RL + L_GILD``, plus ``loss_gild`` (the meta-loss; it trains only the GILD network)
    and detached diagnostics: ``gild_loss``, ``meta_utility`` (the tanh argument),
    ``value_lookahead`` and ``value_reference`` (V of phi' and phi_hat), ``bc_loss`` and
    ``demo_action_mse``, ``gild_output_std`` (spread of f_omega over the demo batch: 0 once it
    is a constant), ``meta_step``, ``meta_grad_norm``; every ``diagnostics_interval`` updates
    also ``gild_bc_cosine`` and ``gild_bc_norm_ratio``, comparing d L_GILD / d a with
    d L_BC / d a for the MSE form of BC, at the actor's actions on the demo batch. The actor's
    gradient is taken with the GILD network as it is before this update's meta step (the
    reference implementation's order).

    Args:
        base_loss: the base algorithm's TorchRL loss, used unchanged for the critic (and temperature).
        gild_network: f_omega; by default a :class:`~gild_torchrl.modules.GILDNetwork` sized from
            ``observation_dim`` and ``action_dim``.

    Keyword Args:
        init: ``"random"`` (the paper) or ``"bc"``: before the first update, fit f_omega to the
            per-row BC loss ``mean((a - a_d)^2)`` for actions around the demonstrations (call
            :meth:`fit_to_behaviour_cloning` with the whole demonstration set; otherwise the first
            demo batch is used). Until the critic has seen a reward the meta-gradient carries no
            signal, and a random f_omega guides the actor nowhere (see the spec).
        bc_fit_steps: Adam steps of that fit when the run prepares the loss (:meth:`prepare`).
        bc_action_margin: how far inside the action bounds demonstrated actions are clamped for
            a stochastic actor's log-likelihood, as a fraction of the half-range.
        **kwargs: ``lookahead_lr``, ``meta_objective``, ``meta_start``, ``diagnostics_interval``,
            ``warm_start``, ``total_updates``, ``policy_delay``: see
            :class:`~gild_torchrl.objectives.lookahead.MetaLookaheadLoss`.

    The GILD network is optimised by the caller: the spec's Adam(lr=1e-4, weight_decay=1e-4)
    on ``loss.gild_network_params`` is the recommended (paper) setting.
    """

    network_name = "gild_network"
    meta_loss_key = "loss_gild"
    learned_loss_key = "gild_loss"
    uses_demonstrations = True

    gild_network: torch.nn.Module
    gild_network_params: TensorDictParams
    target_gild_network_params: TensorDictParams

    def __init__(
        self,
        base_loss: LossModule,
        gild_network: torch.nn.Module | None = None,
        *,
        observation_dim: int | None = None,
        action_dim: int | None = None,
        init: Literal["random", "bc"] = "random",
        bc_fit_steps: int = 2000,
        bc_action_margin: float = 1e-3,
        **kwargs: Any,
    ) -> None:
        if gild_network is None:
            if observation_dim is None or action_dim is None:
                raise ValueError("Pass a gild_network, or observation_dim and action_dim to build the default one.")
            gild_network = GILDNetwork(observation_dim, action_dim)
        if init not in GILD_INITS:
            raise ValueError(f"init={init!r}; expected one of {GILD_INITS}.")
        super().__init__(base_loss, gild_network, **kwargs)
        self.init = init
        self.bc_fit_steps = int(bc_fit_steps)
        self.bc_action_margin = bc_action_margin
        self.bc_fitted = False
        self.bc_fit_metrics: dict[str, float] = {}

    def get_extra_state(self) -> dict[str, Any]:
        return {**super().get_extra_state(), "bc_fitted": self.bc_fitted}

    # -- what the run asks (objectives.interface) -------------------------------------------
    def prepare(self, demonstrations) -> None:
        """``init="bc"``: fit f_omega to behaviour cloning on the run's demonstrations (``bc_fit_steps``)."""
        if self.init == "bc":
            self.fit_to_behaviour_cloning(demonstrations.data, steps=self.bc_fit_steps)

    def diagnostics_at_start(self) -> dict[str, float]:
        """The BC fit's quality (empty without one)."""
        return dict(self.bc_fit_metrics)

    def set_extra_state(self, state: dict[str, Any]) -> None:
        super().set_extra_state(state)
        self.bc_fitted = bool(state.get("bc_fitted", False))

    # -- the learned loss and its reference -------------------------------------------------
    def _learned_loss(self, tensordict, actor_params):
        demo = self._demo_batch(tensordict)
        if self.init == "bc" and not self.bc_fitted:
            self.fit_to_behaviour_cloning(demo)
        demo_action = demo.get(self.adapter.action_key)
        demo_states = self.adapter.states(demo)
        policy_action, distribution = self.adapter.policy(demo, actor_params)
        rows = self.learned_loss_value(policy_action, demo_states, demo_action)
        context = {"policy_action": policy_action, "distribution": distribution, "demo_action": demo_action,
                   "demo_states": demo_states, "rows": rows}
        return rows.mean(), context

    def _reference_loss(self, context):
        return behaviour_cloning_loss(
            context["policy_action"],
            context["distribution"],
            context["demo_action"],
            self.adapter.action_bounds(context["distribution"]),
            self.bc_action_margin,
        )

    def _metrics(self, context, reference_loss):
        metrics = demonstration_metrics(
            context["policy_action"], context["distribution"], context["demo_action"], reference_loss
        )
        metrics["gild_output_std"] = context["rows"].detach().std()
        if self.diagnostics_due:
            metrics.update(self.bc_alignment(context["policy_action"], context["demo_states"], context["demo_action"]))
        return metrics

    def bc_alignment(self, action: torch.Tensor, demo_states: torch.Tensor, demo_action: torch.Tensor) -> dict[str, torch.Tensor]:
        """Cosine and norm ratio of d L_GILD / d a against d L_BC / d a, L_BC = mean((a - a_d)^2)."""
        with torch.enable_grad():
            action = action.detach().requires_grad_()
            (grad_gild,) = torch.autograd.grad(self.learned_loss_value(action, demo_states, demo_action).mean(), action)
        grad_bc = 2 * (action.detach() - demo_action) / action.numel()
        cosine, ratio = gradient_alignment(grad_gild, grad_bc)
        return {"gild_bc_cosine": cosine, "gild_bc_norm_ratio": ratio}

    # -- BC initialisation ----------------------------------------------------------------
    def fit_to_behaviour_cloning(
        self,
        demonstrations: TensorDictBase,
        *,
        steps: int = 2000,
        batch_size: int = 256,
        lr: float = 1e-3,
        action_noise: float = 0.5,
        holdout_fraction: float = 0.1,
        generator: torch.Generator | None = None,
    ) -> dict[str, float]:
        """Fit f_omega(a, s_d, a_d) to the per-row BC loss ``mean((a - a_d)^2)`` around the demonstrations.

        Half the actions are drawn as ``a_d + action_noise * std(a_d) * N(0, 1)``, per action
        dimension, half uniformly over the demonstrated actions' range (widened by 10% each
        side), so that the fit also covers an actor that starts far from the demonstrator.
        Returns (and stores in ``bc_fit_metrics``) the fit's quality on held-out rows: the
        regression MSE, the target's variance, and the mean cosine between the fitted network's
        gradient with respect to ``a`` and the BC gradient.
        """
        dtype = next(iter(self.network_params.values(True, True))).dtype  # float64 or integer rows are cast
        demo_action = demonstrations.get(self.adapter.action_key).detach().to(dtype)
        demo_states = self.adapter.states(demonstrations).detach().to(dtype)
        n = demo_action.shape[0]
        if n < 2:
            raise ValueError(f"fit_to_behaviour_cloning needs at least 2 demonstration rows, got {n}.")
        order = torch.randperm(n, generator=generator, device=demo_action.device)
        n_holdout = max(1, math.ceil(holdout_fraction * n)) if n > 10 else 1
        train_rows, test_rows = order[n_holdout:], order[:n_holdout]
        scale = action_noise * (demo_action.std(0, keepdim=True) + 1e-3)
        low, high = demo_action.min(0).values, demo_action.max(0).values
        low, high = low - 0.1 * (high - low), high + 0.1 * (high - low)

        def draw(rows):
            a_d = demo_action[rows]
            like = {"generator": generator, "device": a_d.device, "dtype": a_d.dtype}
            near = a_d + scale * torch.randn(a_d.shape, **like)
            uniform = low + (high - low) * torch.rand(a_d.shape, **like)
            a = torch.where(torch.rand(a_d.shape[:-1] + (1,), **like) < 0.5, near, uniform)
            return a, demo_states[rows], a_d

        omega = list(self.network_params.values(True, True))
        optimizer = torch.optim.Adam(omega, lr=lr)
        for _ in range(steps):
            rows = train_rows[torch.randint(len(train_rows), (batch_size,), generator=generator, device=order.device)]
            a, s_d, a_d = draw(rows)
            target = (a - a_d).pow(2).mean(-1)
            loss = torch.nn.functional.mse_loss(self.learned_loss_value(a, s_d, a_d), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        a, s_d, a_d = draw(test_rows)
        a.requires_grad_(True)
        prediction = self.learned_loss_value(a, s_d, a_d)
        (grad_a,) = torch.autograd.grad(prediction.sum(), a)
        target = (a - a_d).pow(2).mean(-1)
        cosine = torch.nn.functional.cosine_similarity(grad_a, (a - a_d).detach(), dim=-1)
        self.bc_fit_metrics = {
            "bc_fit_mse": float(torch.nn.functional.mse_loss(prediction.detach(), target.detach())),
            "bc_fit_target_var": float(target.detach().var()),
            "bc_fit_grad_cosine": float(cosine.mean()),
        }
        self.bc_fitted = True
        return self.bc_fit_metrics
