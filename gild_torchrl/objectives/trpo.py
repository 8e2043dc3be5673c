"""A trust-region policy step (TRPO, Schulman et al. 2015), usable on its own: TorchRL has none.

Maximise a surrogate ``L(theta)`` subject to ``KL(theta) <= max_kl``: the natural-gradient direction
``x = F^-1 g`` from conjugate gradient on Fisher-vector products (the Hessian of the KL at the current
parameters, by double back-propagation), scaled so that the quadratic model of the KL equals
``max_kl``, then a backtracking line search that accepts the first fraction of the step whose
measured KL is within the bound and whose surrogate improves. LOGO takes two such steps per
iteration (policy improvement, then policy guidance).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch


@dataclass
class TRPOStep:
    """What one step did: whether a fraction of it was taken, and the measured KL and improvement."""

    accepted: bool
    step_fraction: float  # of the full natural step (0 when rejected)
    kl: float  # measured KL after the step (0 when rejected)
    improvement: float  # surrogate after minus before (0 when rejected)
    expected_improvement: float  # of the full step, to first order


def conjugate_gradient(matrix_vector: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, iterations: int = 10,
                       tolerance: float = 1e-10) -> torch.Tensor:
    """Solve ``A x = b`` for a symmetric positive definite ``A`` given only ``v -> A v``."""
    x = torch.zeros_like(b)
    residual = b.clone()
    direction = b.clone()
    residual_norm = residual @ residual
    for _ in range(iterations):
        a_direction = matrix_vector(direction)
        alpha = residual_norm / (direction @ a_direction)
        x += alpha * direction
        residual -= alpha * a_direction
        new_norm = residual @ residual
        if new_norm < tolerance:
            break
        direction = residual + (new_norm / residual_norm) * direction
        residual_norm = new_norm
    return x


def _flat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def _assign(params: Sequence[torch.Tensor], flat: torch.Tensor) -> None:
    offset = 0
    with torch.no_grad():
        for p in params:
            p.copy_(flat[offset:offset + p.numel()].view_as(p))
            offset += p.numel()


def trpo_step(
    params: Sequence[torch.nn.Parameter],
    surrogate: Callable[[], torch.Tensor],
    kl: Callable[[], torch.Tensor],
    max_kl: float,
    *,
    cg_iterations: int = 10,
    damping: float = 0.1,
    backtracks: int = 10,
    backtrack_ratio: float = 0.5,
    kl_slack: float = 1.5,
) -> TRPOStep:
    """One constrained step of ``params`` in place.

    ``surrogate()`` is the objective to increase and ``kl()`` the divergence from the parameters as
    they were when the step began (zero there, with zero gradient); both are evaluated at the
    current values of ``params``. ``damping`` adds ``damping * v`` to each Fisher-vector product.
    A fraction is accepted when its measured KL is at most ``kl_slack * max_kl`` (the quadratic
    model underestimates it a little) and the surrogate improved; a step that no backtracked
    fraction makes acceptable leaves ``params`` as they were.
    """
    params = list(params)
    if not max_kl > 0:
        raise ValueError(f"max_kl={max_kl!r}; expected a positive number.")
    start = _flat([p.detach() for p in params]).clone()
    before = surrogate()
    gradient = _flat(torch.autograd.grad(before, params))
    before = float(before.detach())
    if not torch.isfinite(gradient).all() or float(gradient.abs().max()) == 0.0:
        return TRPOStep(False, 0.0, 0.0, 0.0, 0.0)

    def fisher_vector(v: torch.Tensor) -> torch.Tensor:
        grads = torch.autograd.grad(kl(), params, create_graph=True)
        return _flat(torch.autograd.grad(_flat(grads) @ v, params)).detach() + damping * v

    direction = conjugate_gradient(fisher_vector, gradient, cg_iterations)
    curvature = float(direction @ fisher_vector(direction))
    if not curvature > 0:
        return TRPOStep(False, 0.0, 0.0, 0.0, 0.0)
    step = direction * (2 * max_kl / curvature) ** 0.5  # 1/2 step' F step = max_kl
    expected = float(gradient @ step)
    fraction = 1.0
    for _ in range(backtracks):
        _assign(params, start + fraction * step)
        with torch.no_grad():
            measured_kl, after = float(kl()), float(surrogate())
        if measured_kl <= max_kl * kl_slack and after > before and torch.isfinite(torch.tensor(after)):
            return TRPOStep(True, fraction, measured_kl, after - before, expected)
        fraction *= backtrack_ratio
    _assign(params, start)
    return TRPOStep(False, 0.0, 0.0, 0.0, expected)
