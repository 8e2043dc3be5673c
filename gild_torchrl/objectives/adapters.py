"""Thin adapters giving TorchRL's DDPGLoss, TD3Loss and SACLoss one vocabulary.

The GILD mechanism needs four things from a base loss: its critic-side losses, its
actor loss evaluated at arbitrary (graph-connected) actor parameters, the policy's
action (and distribution) on demonstration states, and its action bounds. The three
losses name and shape these differently; everything else is shared.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from tensordict import TensorDict, TensorDictBase, TensorDictParams
from torch import distributions as D
from torchrl.envs.utils import ExplorationType, set_exploration_type
from torchrl.modules.distributions.utils import rsample_and_log_prob
from torchrl.objectives import DDPGLoss, LossModule, SACLoss, TD3Loss

from gild_torchrl.objectives.functional import make_fast_path


def _as_tuple(key) -> tuple:
    return tuple(key) if isinstance(key, tuple) else (key,)


class BaseLossAdapter:
    """The shared part; subclasses fill in the per-loss names."""

    #: TD3 updates its actor on every second critic update.
    default_policy_delay: int = 1
    #: Stochastic actors are cloned with a log-likelihood, deterministic ones with an MSE.
    stochastic: bool = False

    def __init__(self, loss: LossModule, fast_path: bool = True) -> None:
        self.loss = loss
        # The same losses on plain tensors (gild_torchrl.objectives.functional), None: TorchRL's own code.
        self.fast = make_fast_path(loss) if fast_path else None

    def _fast_for(self, tensordict: TensorDictBase):
        return self.fast if self.fast is not None and self.fast.covers(tensordict) else None

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        """The base loss's full output (critic, actor, SAC's temperature) on a replay batch."""
        fast = self._fast_for(tensordict)
        return self.loss(tensordict) if fast is None else fast.forward(tensordict)

    # -- actor -----------------------------------------------------------------------
    @property
    def actor_params(self) -> TensorDictParams:
        return self.loss.actor_network_params

    @property
    def actor_in_keys(self) -> list:
        return list(self.loss.actor_network.in_keys)

    @property
    def action_key(self):
        # DDPGLoss has no action key of its own: its actor's last output is the action.
        return getattr(self.loss.tensor_keys, "action", None) or self.loss.actor_network.out_keys[-1]

    @property
    def replay_keys(self) -> list:
        """What the base loss needs in a replay batch: the state and action, then the next state,
        reward and done flag (under the base loss's keys, after ``set_keys``); ``terminated``
        defaults to ``done`` in TorchRL's value estimators, so it is not required."""
        tk = self.loss.tensor_keys
        following = [*self.actor_in_keys, tk.reward, tk.done]
        return [*self.actor_in_keys, self.action_key, *(("next", *_as_tuple(k)) for k in following)]

    @contextlib.contextmanager
    def actor_params_swapped(self, params: TensorDictBase) -> Iterator[None]:
        """Let the base loss's own code run with other actor parameters (phi', phi_hat)."""
        if not isinstance(params, TensorDictParams):
            params = TensorDictParams(params, no_convert=True)
        original = self.loss.actor_network_params
        self.loss.actor_network_params = params
        try:
            yield
        finally:
            self.loss.actor_network_params = original

    def actor_loss(self, tensordict: TensorDictBase, params: TensorDictBase | None = None) -> torch.Tensor:
        """L_RL: the base algorithm's own actor loss, optionally at other actor parameters."""
        fast = self._fast_for(tensordict)
        if fast is not None:
            return fast.actor_loss(tensordict, params, metadata=False)[0]
        tensordict = tensordict.copy()  # SACLoss writes the policy's loc and scale into its input
        if params is None:
            return self._actor_loss(tensordict)[0]
        with self.actor_params_swapped(params):
            return self._actor_loss(tensordict)[0]

    def states(self, tensordict: TensorDictBase) -> torch.Tensor:
        """The actor's inputs as one flat vector per row: the ``s`` fed to the learned loss networks."""
        return torch.cat([tensordict.get(key) for key in self.actor_in_keys], dim=-1)

    def policy(self, tensordict: TensorDictBase, params: TensorDictBase) -> tuple[torch.Tensor, D.Distribution | None]:
        """The actor's (differentiable) action on ``tensordict``'s states, and its distribution if stochastic."""
        if self.fast is not None:  # a deterministic actor's plain-tensor program
            return self.fast.actor(params, {k: tensordict.get(k) for k in self.actor_in_keys})[self.action_key], None
        td = tensordict.select(*self.actor_in_keys, strict=True)
        with params.to_module(self.loss.actor_network):
            td = self.loss.actor_network(td)
        return td.get(self.action_key), None

    def action_bounds(self, distribution: D.Distribution | None) -> tuple[torch.Tensor, torch.Tensor] | None:
        return None

    # -- critic ----------------------------------------------------------------------
    def critic_loss(self, tensordict: TensorDictBase) -> TensorDict:
        """The base loss's critic-side terms alone, for updates that leave the actor untouched."""
        raise NotImplementedError

    def _actor_loss(self, tensordict: TensorDictBase) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError


class TD3Adapter(BaseLossAdapter):
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


class DDPGAdapter(BaseLossAdapter):
    def _actor_loss(self, tensordict):
        return self.loss.loss_actor(tensordict)

    def critic_loss(self, tensordict):
        fast = self._fast_for(tensordict)
        if fast is not None:
            return fast.critic_losses(tensordict)
        loss_value, metadata = self.loss.loss_value(tensordict)
        return TensorDict(loss_value=loss_value, **metadata)


class SACAdapter(BaseLossAdapter):
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


_ADAPTERS: dict[type, type[BaseLossAdapter]] = {
    TD3Loss: TD3Adapter,
    DDPGLoss: DDPGAdapter,
    SACLoss: SACAdapter,
}


def make_adapter(loss: LossModule, fast_path: bool = True) -> BaseLossAdapter:
    """Pick the adapter for ``loss``; subclasses of the three TorchRL losses are accepted."""
    for loss_type, adapter in _ADAPTERS.items():
        if isinstance(loss, loss_type):
            return adapter(loss, fast_path)
    supported = ", ".join(t.__name__ for t in _ADAPTERS)
    raise TypeError(f"base_loss is a {type(loss).__name__}; expected one of TorchRL's {supported} (or a subclass).")
