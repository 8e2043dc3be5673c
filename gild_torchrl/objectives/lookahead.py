"""The meta-learning mechanism GILD and Meta-Critic share: a learned actor loss, a lookahead, a meta-loss.

One actor update (spec, "One update"), with phi the actor, omega the learned loss network:

1. reference actor   phi_hat = phi - beta * grad[L_RL + L_ref](phi)        (GILD: L_ref = BC; Meta-Critic: none)
2. lookahead actor   phi'    = phi - beta * grad[L_RL + L_learned](phi, omega), differentiable in omega
3. meta-loss         L_meta  = -tanh(V(phi') - V(phi_hat)) on validation states, V = -L_RL
4. actor objective   L_RL(phi) + L_learned(phi, omega)

Every gradient is taken once, inside ``forward``, with ``torch.autograd.grad`` restricted
to the parameters that own it: grad L_RL serves steps 1, 2 and 4, and the meta-gradient
is taken with respect to omega only, so autograd never computes the Hessian terms that
belong to no one. The returned ``loss_actor`` and meta-loss entries carry their loss's value
and exactly that gradient (see :func:`with_gradient`), so summing the ``loss_*`` entries and
calling ``backward()`` once trains every group correctly and costs a few dot products.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from tensordict import TensorDict, TensorDictBase
from torch import nn
from torchrl.objectives import LossModule

from gild_torchrl.objectives.common import BaseLossWrapper

META_OBJECTIVES = ("tanh_diff", "q_value")
META_STARTS = ("immediately", "first_reward")


def with_gradient(value: torch.Tensor, params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor]) -> torch.Tensor:
    """A scalar equal to ``value`` whose gradient with respect to ``params`` is ``grads`` (and zero elsewhere)."""
    surrogate = sum((p * g.detach()).sum() for p, g in zip(params, grads))
    return value.detach() + (surrogate - surrogate.detach())


def _trainable_keys(params: TensorDictBase) -> list:
    """Keys of the entries that are parameters (a TanhModule, say, also stores its bounds)."""
    return [key for key, value in params.items(True, True) if value.requires_grad]


def _with_values(template: TensorDictBase, keys: list, tensors: Sequence[torch.Tensor]) -> TensorDict:
    """A detached copy of ``template`` whose entries at ``keys`` are ``tensors`` (graph kept)."""
    out = template.detach().clone(False)
    for key, tensor in zip(keys, tensors):
        out.set(key, tensor)
    return out


def _sgd_step(params: Sequence[torch.Tensor], lr: float, *grads: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """``p.detach() - lr * sum(grads)``: differentiable only through the grads that carry a graph."""
    return [p.detach() - lr * sum(g[i] for g in grads) for i, p in enumerate(params)]


class MetaLookaheadLoss(BaseLossWrapper):
    """A base loss whose actor also minimises a learned loss network, meta-trained by lookahead.

    Subclasses say what the learned loss is evaluated on (:meth:`_learned_loss`) and what the
    reference step adds to L_RL (:meth:`_reference_loss`); the mechanism is here once.

    Args:
        base_loss: TorchRL's ``TD3Loss``, ``DDPGLoss`` or ``SACLoss``, used unchanged.
        network: the learned loss network (omega); its parameters become ``<network_name>_params``.

    Keyword Args:
        lookahead_lr: beta, the plain SGD step of the reference and lookahead actors (the
            actor's learning rate, 3e-4, in the paper).
        meta_objective: ``"tanh_diff"`` (the paper) or ``"q_value"`` (its ablation: ``-V(phi')``).
        meta_start: ``"immediately"`` (the paper) or ``"first_reward"``: no meta step (omega and
            its optimiser untouched, no meta-loss entry) until :meth:`start_meta_learning` is
            called, which the training loop does once its replay buffer holds a rewarded
            transition; the learned loss still shapes the actor meanwhile, and the warm start
            counts actor updates from the first meta step. Before any reward the critic is flat
            and the meta-gradient is noise (spec, "What we measured").
        diagnostics_interval: every this many updates, add the costlier diagnostics (see
            :meth:`_metrics` of the subclass); 0 turns them off.
        warm_start, total_updates, policy_delay: see :class:`BaseLossWrapper`.
        **drop_in: ``demonstrations``, ``demo_batch_size``, ``validation_source``, ``seed``: the
            batches a bare replay batch lacks, drawn by the loss (see :class:`BaseLossWrapper`).

    Diagnostics in every guided output: ``meta_step`` (1.0 when omega got a meta-gradient),
    ``meta_grad_norm``, and the subclass's.
    """

    network_name: str = "meta_network"
    meta_loss_key: str = "loss_meta"
    learned_loss_key: str = "learned_loss"
    has_guide = True
    uses_validation = True

    def __init__(
        self,
        base_loss: LossModule,
        network: nn.Module,
        *,
        lookahead_lr: float = 3e-4,
        meta_objective: Literal["tanh_diff", "q_value"] = "tanh_diff",
        meta_start: Literal["immediately", "first_reward"] = "immediately",
        diagnostics_interval: int = 100,
        warm_start: int | float | None = None,
        total_updates: int | None = None,
        policy_delay: int | None = None,
        fast_path: bool = True,
        **drop_in: Any,
    ) -> None:
        super().__init__(base_loss, policy_delay=policy_delay, warm_start=warm_start, total_updates=total_updates,
                         fast_path=fast_path, **drop_in)
        if meta_objective not in META_OBJECTIVES:
            raise ValueError(f"meta_objective={meta_objective!r}; expected one of {META_OBJECTIVES}.")
        if meta_start not in META_STARTS:
            raise ValueError(f"meta_start={meta_start!r}; expected one of {META_STARTS}.")
        self.meta_start = meta_start
        self.meta_started = meta_start == "immediately"
        self.diagnostics_interval = int(diagnostics_interval)
        if not lookahead_lr > 0:
            raise ValueError(f"lookahead_lr={lookahead_lr!r}; expected a positive float.")
        self.lookahead_lr = float(lookahead_lr)
        self.meta_objective = meta_objective
        self.convert_to_functional(network, self.network_name)

    def start_meta_learning(self) -> None:
        """Let meta steps begin (``meta_start="first_reward"``): call once a rewarded transition is stored."""
        self.meta_started = True

    # -- what the run asks (objectives.interface) -------------------------------------------
    def on_first_reward(self) -> None:
        self.start_meta_learning()

    def extra_parameter_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        """The learned loss network, under ``meta``."""
        return {"meta": list(self.network_params.values(True, True))}

    @property
    def diagnostics_per_update(self) -> bool:
        """Every ``diagnostics_interval``-th update's, at its frame: a warm start shorter than a
        collection batch still draws a curve."""
        return self.diagnostics_interval > 0

    def update_diagnostics_due(self, out: TensorDictBase) -> bool:
        """A guided update (its output holds ``meta_step``) on which the costlier diagnostics ran."""
        return self.diagnostics_interval > 0 and "meta_step" in out.keys() and self.diagnostics_due

    @property
    def counts_toward_warm_start(self) -> bool:
        return self.meta_started

    def get_extra_state(self) -> dict[str, Any]:
        return {**super().get_extra_state(), "meta_started": self.meta_started}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        super().set_extra_state(state)
        self.meta_started = bool(state.get("meta_started", self.meta_start == "immediately"))

    @property
    def diagnostics_due(self) -> bool:
        """Whether this update adds the costlier diagnostics (the counter has already moved)."""
        return self.diagnostics_interval > 0 and (self.num_updates - 1) % self.diagnostics_interval == 0

    @property
    def network_params(self) -> TensorDictBase:
        return getattr(self, f"{self.network_name}_params")

    def learned_loss_value(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Per-row output of the learned loss network with its current parameters."""
        network = getattr(self, self.network_name)
        with self.network_params.to_module(network):
            return network(*inputs)

    # -- hooks ---------------------------------------------------------------------------
    def _learned_loss(
        self, tensordict: TensorDictBase, actor_params: TensorDictBase
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """L_learned(phi, omega) at ``actor_params``, and a context the reference loss may reuse."""
        raise NotImplementedError

    def _reference_loss(self, context: dict[str, Any]) -> torch.Tensor | None:
        """What the reference step adds to L_RL (``None``: the plain RL step)."""
        return None

    def _metrics(self, context: dict[str, Any], reference_loss: torch.Tensor | None) -> dict[str, torch.Tensor]:
        return {}

    # -- one guided actor update ---------------------------------------------------------
    def _guided_update(self, tensordict: TensorDictBase) -> TensorDictBase:
        if not torch.is_grad_enabled():  # the meta-loss's value itself needs the inner gradients
            with torch.enable_grad():
                return self._guided_update(tensordict).detach()
        out = self._base_forward(tensordict, self.adapter.forward)  # critic, L_RL(phi), SAC temperature: the base's own
        phi = self.adapter.actor_params
        keys = _trainable_keys(phi)
        phi_leaves = [phi.get(key) for key in keys]
        grad_rl = torch.autograd.grad(out["loss_actor"], phi_leaves, materialize_grads=True)

        # The learned and reference losses are taken at a detached copy of phi, so that the
        # lookahead's graph reaches omega and never the actor's own parameters.
        copy_leaves = [p.detach().requires_grad_() for p in phi_leaves]
        phi_copy = _with_values(phi, keys, copy_leaves)
        learned, context = self._learned_loss(tensordict, phi_copy)
        reference = self._reference_loss(context)
        meta_step = self.meta_started
        if reference is None or not meta_step:
            grad_ref = [torch.zeros_like(p) for p in copy_leaves]
        else:
            grad_ref = torch.autograd.grad(reference, copy_leaves, retain_graph=True, materialize_grads=True)
        grad_learned = torch.autograd.grad(learned, copy_leaves, create_graph=meta_step, materialize_grads=True)

        # the actor's objective L_RL + L_learned, with omega as it is before its own step
        actor_grads = [g_rl + g_l.detach() for g_rl, g_l in zip(grad_rl, grad_learned)]
        out["loss_actor"] = with_gradient(out["loss_actor"] + learned, phi_leaves, actor_grads)
        diagnostics = {self.learned_loss_key: learned.detach(), "meta_step": torch.tensor(float(meta_step))}
        if meta_step:
            out[self.meta_loss_key], meta_diagnostics = self._meta_loss(tensordict, phi, keys, phi_leaves, grad_rl, grad_learned, grad_ref)
            diagnostics.update(meta_diagnostics)
        with torch.no_grad():
            out.update({**diagnostics, **self._metrics(context, reference)})
        return out

    def _meta_loss(self, tensordict, phi, keys, phi_leaves, grad_rl, grad_learned, grad_ref):
        """-tanh(V(phi') - V(phi_hat)) on the validation states, carrying its gradient for omega only."""
        beta = self.lookahead_lr
        lookahead = _with_values(phi, keys, _sgd_step(phi_leaves, beta, grad_rl, grad_learned))
        validation = self._validation_batch(tensordict)
        value_lookahead = -self.adapter.actor_loss(validation, lookahead)
        with torch.no_grad():
            reference_params = _with_values(phi, keys, _sgd_step(phi_leaves, beta, grad_rl, grad_ref))
            value_reference = -self.adapter.actor_loss(validation, reference_params)
        utility = value_lookahead - value_reference
        meta_loss = -torch.tanh(utility) if self.meta_objective == "tanh_diff" else -value_lookahead

        omega = [p for p in self.network_params.values(True, True) if p.requires_grad]
        grad_omega = torch.autograd.grad(meta_loss, omega, materialize_grads=True)
        diagnostics = {
            "meta_utility": utility.detach(),
            "value_lookahead": value_lookahead.detach(),
            "value_reference": value_reference.detach(),
            "meta_grad_norm": torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grad_omega])),
        }
        return with_gradient(meta_loss, omega, grad_omega), diagnostics
