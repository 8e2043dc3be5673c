"""The machinery of the base algorithms' plain-tensor paths: TorchRL's losses evaluated on plain
tensors, the same numbers with less overhead. Each algorithm module holds its own loss's form
(``FastTD3`` in :mod:`gild_torchrl.algorithms.td3`, ...); this module holds what they share.

Why this exists: TorchRL's losses run every network call through TensorDicts, functorch's vmap
over the twin critics and parameter swaps (``to_module``). On a CPU with the paper's 256x256
networks that bookkeeping costs about half as much again as the arithmetic of an update
(``python -m benchmarks.update_step``), and GILD's lookahead evaluates the actor loss twice more.
This module is an execution strategy for those same losses, not a replacement: the TorchRL loss
object stays the owner of the networks, parameters, targets, keys, hyperparameters and value
estimator, and everything here reads them from it.

How: each network is turned once into a short list of steps over plain tensors
(:class:`TensorProgram`): a ``TensorDictModule``'s inner module called with
``torch.func.functional_call`` on the parameters the loss holds, TorchRL's ``TanhModule``, and
the ``TanhNormal`` of a ``ProbabilisticActor`` (TorchRL's own safe tanh, Normal log-density
minus the tanh Jacobian). The loss functions then follow TorchRL 0.14's code term by term: the
reductions through the loss's own ``_reduce_loss``, the random draws in the same order and shape,
the same output keys and metadata, the same priority written into the input. The tests compare
outputs and gradients with TorchRL's methods, and whole updates with a plain-PyTorch reference.

Anything this does not cover makes :func:`plain_tensor_path` return ``None`` and the adapters call
TorchRL's own methods: networks made of other modules, non-trivial SAC action bounds, SAC v1,
``skip_done_states``, value estimators other than TD(0) or with averaged rewards, and (per call)
prioritized-replay weights, loss masks or ``steps_to_next_obs`` in the batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tensordict import TensorDictBase
from tensordict.nn import (
    ProbabilisticTensorDictModule,
    TensorDictModule,
    TensorDictModuleBase,
    TensorDictSequential,
)
from tensordict.utils import NestedKey
from torch import nn
from torchrl.modules import MLP, TanhModule, TanhNormal
from torchrl.modules.distributions.utils import safetanh_noeps
from torchrl.objectives import LossModule
from torchrl.objectives.value import TD0Estimator
from torchrl.objectives.value.functional import td0_return_estimate

Values = dict  # NestedKey -> Tensor


def _t(key: NestedKey) -> tuple:
    return tuple(key) if isinstance(key, tuple) else (key,)


# -- networks as programs over plain tensors ---------------------------------------------------
@dataclass
class _Call:
    """A ``TensorDictModule``: its inner ``nn.Module`` on the tensors at ``in_keys``."""

    module: nn.Module
    names: list[tuple[tuple, str]]  # (key in the loss's params, name for functional_call)
    in_keys: list
    out_keys: list

    def __call__(self, params: TensorDictBase, values: Values, index: int | None) -> None:
        weights = {name: params.get(key) if index is None else params.get(key)[index] for key, name in self.names}
        out = torch.func.functional_call(self.module, weights, tuple(values[k] for k in self.in_keys))
        outs = out if isinstance(out, tuple) else (out,)
        for key, value in zip(self.out_keys, outs):
            values[key] = value


@dataclass
class _Layers:
    """An ``nn.Sequential`` of ``nn.Linear`` and parameter-free layers (TorchRL's ``MLP``): ``F.linear`` chains.

    The same arithmetic as calling the module, without ``functional_call``'s parameter swapping.
    TorchRL's ``MLP`` concatenates several inputs, so this does too.
    """

    layers: list  # ("linear", weight key, bias key or None) or ("call", parameter-free module)
    in_keys: list
    out_keys: list

    def __call__(self, params: TensorDictBase, values: Values, index: int | None) -> None:
        inputs = [values[k] for k in self.in_keys]
        x = inputs[0] if len(inputs) == 1 else torch.cat(inputs, -1)
        for kind, a, b in self.layers:
            if kind == "linear":
                weight, bias = params.get(a), None if b is None else params.get(b)
                if index is not None:
                    weight, bias = weight[index], None if bias is None else bias[index]
                x = nn.functional.linear(x, weight, bias)
            else:
                x = a(x)
        outs = x if isinstance(x, tuple) else (x,)
        for key, value in zip(self.out_keys, outs):
            values[key] = value


def _layer_plan(module: nn.Module, prefix: tuple, keys: set) -> list | None:
    """The layers of a Sequential made of Linear and parameter-free modules, else ``None``."""
    if isinstance(module, MLP) and getattr(module, "_reshape_out", False):
        return None
    if type(module) not in (nn.Sequential, MLP):
        return None
    plan = []
    for name, child in module.named_children():
        path = prefix + (name,)
        if type(child) is nn.Linear:
            bias = path + ("bias",) if child.bias is not None else None
            if path + ("weight",) not in keys or (bias is not None and bias not in keys):
                return None
            plan.append(("linear", path + ("weight",), bias))
        elif isinstance(child, nn.Sequential):
            inner = _layer_plan(child, path, keys)
            if inner is None:
                return None
            plan += inner
        elif not any(True for _ in child.parameters()) and not any(True for _ in child.buffers()):
            plan.append(("call", child, None))
        else:
            return None
    return plan


@dataclass
class _Tanh:
    """TorchRL's ``TanhModule``: tanh, optionally clamped, mapped onto the bounds (its own formula)."""

    in_keys: list
    out_keys: list
    bounds: list[tuple[tuple, tuple]]  # (low key, high key) in the params
    clamp: bool

    def __call__(self, params: TensorDictBase, values: Values, index: int | None) -> None:
        for in_key, out_key, (low_key, high_key) in zip(self.in_keys, self.out_keys, self.bounds):
            feature = values[in_key].tanh()
            if self.clamp:
                eps = torch.finfo(feature.dtype).resolution
                feature = feature.clamp(-1 + eps, 1 - eps)
            low, high = params.get(low_key), params.get(high_key)
            values[out_key] = low + (high - low) * (feature + 1) / 2


@dataclass
class _TanhNormalSample:
    """A reparameterised draw from ``TanhNormal(loc, scale)`` on [-1, 1] and its log-density.

    The draw is ``Normal(loc, scale).rsample()`` (the same random numbers as TorchRL's), squashed
    with TorchRL's safe tanh; the log-density is summed over the action dimensions before the
    tanh Jacobian's sum is subtracted, in the order TorchRL's transformed distribution does it.
    """

    loc_key: NestedKey
    scale_key: NestedKey
    out_key: NestedKey

    def __call__(self, params: TensorDictBase, values: Values, index: int | None) -> None:
        loc, scale = values[self.loc_key], values[self.scale_key]
        normal = torch.distributions.Normal(loc, scale, validate_args=False)
        u = normal.rsample()
        log_det = 2.0 * (math.log(2.0) - u - nn.functional.softplus(-2.0 * u))
        values[self.out_key] = safetanh_noeps(u)
        values["log_prob"] = normal.log_prob(u).sum(-1) - log_det.sum(-1)


class TensorProgram:
    """A TorchRL network as steps over plain tensors, run on any parameters with its layout.

    ``program(params, values)`` reads the network's ``in_keys`` from ``values`` (a dict) and adds
    its outputs; ``index`` picks one network of stacked parameters (the twin critics).
    Raises ``TypeError`` at construction for a module it does not know.
    """

    def __init__(self, module: TensorDictModuleBase, params: TensorDictBase) -> None:
        keys = [_t(k) for k in params.keys(True, True)]
        self.steps = self._compile(module, (), keys)
        self.in_keys = list(module.in_keys)

    def _compile(self, module, prefix: tuple, keys: list[tuple]) -> list:
        if isinstance(module, TanhModule):
            bounds = []
            for out_key in module.out_keys:
                name = out_key if isinstance(out_key, str) else "_".join(out_key)
                bounds.append((prefix + (f"{name}_low",), prefix + (f"{name}_high",)))
            return [_Tanh(list(module.in_keys), list(module.out_keys), bounds, bool(module.clamp))]
        if isinstance(module, ProbabilisticTensorDictModule):
            kwargs = dict(getattr(module, "distribution_kwargs", {}) or {})
            unit_box = bool((torch.as_tensor(kwargs.get("low", -1.0)) == -1).all()
                            and (torch.as_tensor(kwargs.get("high", 1.0)) == 1).all())
            if (module.distribution_class is not TanhNormal or set(kwargs) - {"low", "high"} or not unit_box
                    or list(module.in_keys) != ["loc", "scale"] or len(module.out_keys) != 1):
                raise TypeError(f"no plain-tensor form for {module.distribution_class.__name__} with {sorted(kwargs)}")
            return [_TanhNormalSample("loc", "scale", module.out_keys[0])]
        if isinstance(module, TensorDictSequential):
            steps = []
            for i, child in enumerate(module.module):
                steps += self._compile(child, prefix + ("module", str(i)), keys)
            return steps
        if isinstance(module, TensorDictModule) and type(module).forward is TensorDictModule.forward:
            inner = prefix + ("module",)
            plan = _layer_plan(module.module, inner, set(keys))
            if plan is not None and (len(module.in_keys) == 1 or isinstance(module.module, MLP)):
                return [_Layers(plan, list(module.in_keys), list(module.out_keys))]
            names = [(k, ".".join(k[len(inner):])) for k in keys if k[: len(inner)] == inner]
            return [_Call(module.module, names, list(module.in_keys), list(module.out_keys))]
        raise TypeError(f"no plain-tensor form for a {type(module).__name__}")

    def __call__(self, params: TensorDictBase, values: Values, index: int | None = None) -> Values:
        for step in self.steps:
            step(params, values, index)
        return values


# -- the losses ----------------------------------------------------------------------------------
class FastLoss:
    """What the three fast paths share: the loss, its programs, and the per-batch fallback test."""

    def __init__(self, loss: LossModule, actor: TensorProgram, critic: TensorProgram) -> None:
        self.loss, self.actor, self.critic = loss, actor, critic
        self.tk = loss.tensor_keys

    def covers(self, tensordict: TensorDictBase) -> bool:
        """Whether this batch takes the fast path (no replay weights, loss masks or multi-step returns)."""
        loss = self.loss
        if loss._maybe_get_priority_weight(tensordict) is not None:
            return False
        if any(key in tensordict.keys(True) for key in loss._loss_mask_keys()):
            return False
        return loss.value_estimator.tensor_keys.steps_to_next_obs not in tensordict.keys(True)

    def _inputs(self, tensordict: TensorDictBase, keys: Sequence, nested: bool = False) -> Values:
        return {k: tensordict.get(("next", *_t(k)) if nested else k) for k in keys}

    def _with_actor(self, params: TensorDictBase, tensordict: TensorDictBase, nested: bool = False) -> Values:
        """The actor's outputs on the batch's states (``nested``: next states), and the critic's other inputs."""
        values = self.actor(params, self._inputs(tensordict, self.actor.in_keys, nested))
        for key in self.critic.in_keys:
            if key not in values:
                values[key] = tensordict.get(("next", *_t(key)) if nested else key)
        return values

    def _td0(self, tensordict: TensorDictBase, next_value: torch.Tensor) -> torch.Tensor:
        estimator = self.loss.value_estimator
        reward = tensordict.get(("next", estimator.tensor_keys.reward))
        done = tensordict.get(("next", estimator.tensor_keys.done))
        terminated = tensordict.get(("next", estimator.tensor_keys.terminated), default=done)
        return td0_return_estimate(gamma=estimator.gamma, next_state_value=next_value, reward=reward, terminated=terminated)

    def _q(self, params: TensorDictBase, values: Values, n: int) -> torch.Tensor:
        """The stacked critics' values, shape ``[n, batch]``."""
        key = self.tk.state_action_value
        return torch.stack([self.critic(params, dict(values), i)[key].squeeze(-1) for i in range(n)])

    def _reduce(self, value: torch.Tensor, tensordict: TensorDictBase) -> torch.Tensor:
        return self.loss._reduce_loss(value, tensordict=tensordict)


def plain_tensor_path(loss: LossModule, form: type[FastLoss], critic: TensorDictModuleBase,
                      critic_params: TensorDictBase) -> FastLoss | None:
    """``form`` (an algorithm's plain-tensor loss) over ``loss``'s actor and ``critic``, or ``None``
    where it does not apply (TorchRL's own code then runs): another reduction or value estimator,
    or networks made of modules :class:`TensorProgram` does not know."""
    if getattr(loss, "reduction", "mean") not in ("mean", "sum") or type(loss.value_estimator) is not TD0Estimator:
        return None
    if getattr(loss.value_estimator, "average_rewards", False):
        return None
    try:
        return form(loss, TensorProgram(loss.actor_network, loss.actor_network_params), TensorProgram(critic, critic_params))
    except TypeError:
        return None
