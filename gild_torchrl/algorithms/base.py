"""What a base algorithm is to the run, declared once: :class:`Algorithm`, the table of them, and
the parts every algorithm module shares (the adapter's base, the optimiser groups).

Each algorithm is one module of this package (``ddpg.py``, ``td3.py``, ``sac.py``, ``trpo.py``)
holding its TorchRL loss builder, its options from its config section, its adapter and its
optional plain-tensor path, and registering itself with :func:`register_algorithm`.

The adapter gives the objectives one vocabulary over TorchRL's losses: the GILD mechanism needs
four things from a base loss (its critic-side losses, its actor loss at arbitrary graph-connected
actor parameters, the policy's action and distribution on demonstration states, its action
bounds), and each loss names and shapes these differently.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from tensordict import TensorDict, TensorDictBase, TensorDictParams
from torch import distributions as D
from torchrl.objectives import LossModule

from gild_torchrl.algorithms.plain_tensors import FastLoss
from gild_torchrl.registry import Registry


def actor_and_critic_groups(base: LossModule) -> dict[str, list[torch.nn.Parameter]]:
    """The actor's trainable parameters, and every other parameter but SAC's temperature."""
    actor = [p for p in base.actor_network_params.values(True, True) if p.requires_grad]
    actor_ids = {id(p) for p in actor}
    critic = [p for name, p in base.named_parameters() if id(p) not in actor_ids and name != "log_alpha"]
    groups = {"actor": actor, "critic": critic}
    log_alpha = getattr(base, "log_alpha", None)
    if isinstance(log_alpha, torch.nn.Parameter):  # SAC with a tuned temperature
        groups["alpha"] = [log_alpha]
    return groups


@dataclass(frozen=True)
class Algorithm:
    """One base algorithm as the run sees it."""

    name: str
    #: ``(observation_dim, action_spec, **options) -> LossModule``: TorchRL's loss over the paper's networks.
    make_loss: Callable[..., LossModule] | None
    #: ``cfg -> options`` for ``make_loss`` from the algorithm's config section (``td3:``, ``sac:``).
    options: Callable[[Any], Mapping[str, Any]] = field(default=lambda cfg: {})
    #: ``cfg -> critic updates per actor update``.
    policy_delay: Callable[[Any], int] = field(default=lambda cfg: 1)
    #: True: the actor samples its own exploration (SAC); False: Gaussian noise is added to its action.
    stochastic_actor: bool = False
    #: ``base loss -> {group name: parameters}``: one optimiser each.
    parameter_groups: Callable[[LossModule], dict[str, list[torch.nn.Parameter]]] = actor_and_critic_groups
    #: Which run trains it: ``"off_policy"`` (:mod:`gild_torchrl.training.off_policy`, over the TorchRL loss
    #: from ``make_loss``) or ``"on_policy"`` (:mod:`gild_torchrl.training.on_policy`, TRPO and LOGO).
    kind: Literal["off_policy", "on_policy"] = "off_policy"
    #: The objectives it runs with; None: every registered (off-policy) objective.
    objectives: tuple[str, ...] | None = None
    #: What the objectives call on its TorchRL loss (:class:`BaseLossAdapter`); None: the adapter of
    #: another registered algorithm whose loss class it builds (a TD3 variant reuses TD3's).
    adapter: type[BaseLossAdapter] | None = None

    @property
    def off_policy(self) -> bool:
        return self.kind == "off_policy"


ALGORITHMS: Registry[Algorithm] = Registry("algorithm")
#: Add (or replace) a base algorithm under ``algorithm.name``.
register_algorithm = ALGORITHMS.register
get_algorithm = ALGORITHMS.lookup


def make_base_loss(algorithm: str, observation_dim: int, action_spec, *, gamma: float = 0.99, **options: Any) -> LossModule:
    """TorchRL's own loss for ``algorithm`` (a name of :data:`ALGORITHMS`) over the paper's networks,
    with its value estimator set. ``options``: the builder's (``num_cells``, ``policy_noise``,
    ``noise_clip``, ``alpha_init``, ``fixed_alpha``, ``deactivate_vmap``)."""
    loss = get_algorithm(algorithm).make_loss(observation_dim, action_spec, **options)
    loss.make_value_estimator(gamma=gamma)
    return loss


def make_adapter(loss: LossModule, fast_path: bool = True) -> BaseLossAdapter:
    """The adapter a registered algorithm declares for ``loss``'s class or its nearest base class."""
    adapters = list(dict.fromkeys(a.adapter for a in ALGORITHMS.values() if a.adapter is not None))
    for loss_class in type(loss).__mro__:  # the most specific declaration wins (a TD3Loss subclass's own adapter)
        for adapter in adapters:
            if adapter.loss_class is loss_class:
                return adapter(loss, fast_path)
    supported = ", ".join(a.loss_class.__name__ for a in adapters)
    raise TypeError(f"base_loss is a {type(loss).__name__}; expected one of TorchRL's {supported} (or a subclass).")


def _as_tuple(key) -> tuple:
    return tuple(key) if isinstance(key, tuple) else (key,)


class BaseLossAdapter:
    """The shared part; subclasses fill in the per-loss names."""

    #: The TorchRL loss class (subclasses included) this adapter speaks for.
    loss_class: type[LossModule] = LossModule
    #: TD3 updates its actor on every second critic update.
    default_policy_delay: int = 1
    #: Stochastic actors are cloned with a log-likelihood, deterministic ones with an MSE.
    stochastic: bool = False

    def __init__(self, loss: LossModule, fast_path: bool = True) -> None:
        self.loss = loss
        # The same loss on plain tensors (the algorithm's own form), None: TorchRL's own code.
        self.fast = self.plain_tensor_path(loss) if fast_path else None

    @classmethod
    def plain_tensor_path(cls, loss: LossModule) -> FastLoss | None:
        """The algorithm's loss on plain tensors (:mod:`~gild_torchrl.algorithms.plain_tensors`); optional:
        ``None`` runs TorchRL's own code."""
        return None

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
