"""The wrapper every objective shares: a TorchRL base loss, its policy delay and a warm start."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Literal

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.utils import NestedKey
from torchrl.objectives import LossModule

from gild_torchrl.algorithms import make_adapter
from gild_torchrl.modules.behaviour_policy import tanh_normal_kl
from gild_torchrl.objectives.batch_checks import MissingBatchError, check_replay, checked_side_batch
from gild_torchrl.objectives.behaviour_cloning import behaviour_cloning_loss, demonstration_metrics
from gild_torchrl.objectives.interface import NextBatches, ObjectiveHooks

#: Where a drop-in loss draws missing validation states from (see :class:`BaseLossWrapper`).
VALIDATION_SOURCES = ("replay_buffer", "batch", "demo")


def resolve_warm_start(warm_start: int | float | None, total_updates: int | None, policy_delay: int) -> int | None:
    """Turn a warm-start setting into a number of actor updates (``None``: never stop).

    An ``int`` counts actor updates; a ``float`` in (0, 1] is a fraction of ``total_updates``
    (all gradient updates of the run, critic updates included), divided by the policy delay.
    """
    if warm_start is None:
        return None
    if isinstance(warm_start, bool) or not isinstance(warm_start, numbers.Real):
        raise TypeError(f"warm_start={warm_start!r}; expected an int (actor updates), a float fraction or None.")
    if isinstance(warm_start, numbers.Integral):
        if warm_start < 0:
            raise ValueError(f"warm_start={warm_start}; expected a non-negative number of actor updates.")
        return int(warm_start)
    if not 0.0 < warm_start <= 1.0:
        raise ValueError(f"warm_start={warm_start}; a fractional warm start must lie in (0, 1].")
    if total_updates is None or total_updates <= 0:
        raise ValueError(
            f"warm_start={warm_start} is a fraction, so total_updates must be a positive int, got {total_updates!r}."
        )
    return max(1, round(warm_start * total_updates / policy_delay))


class BaseLossWrapper(LossModule, ObjectiveHooks):
    """A TorchRL ``TD3Loss``, ``DDPGLoss`` or ``SACLoss`` with the update schedule the objectives share.

    On its own it is plain RL: each call is one update; on actor updates (every
    ``policy_delay``-th call, 2 for TD3 as in its paper, else 1) the output is exactly the
    base loss's output, and on the others it holds only the critic terms. Subclasses add an
    actor-side objective that runs for the first ``warm_start`` actor updates; after that
    they do no extra work at all and return the base loss's output.

    Summing the output's ``loss_*`` entries and calling ``backward()`` once gives each
    parameter group its own gradient; an output without ``loss_actor`` means that this
    update leaves the actor (and TD3's target networks) alone.

    Input: one TensorDict holding the replay batch at its root, plus, for the objectives that
    use them, a demonstration batch under ``tensor_keys.demo`` and validation states under
    ``tensor_keys.validation``, each under the base loss's own keys. When the batches differ in
    size, give the root ``batch_size=[]`` (:meth:`make_batch` builds it). Everything a call
    reads is checked before anything is computed (:mod:`~gild_torchrl.objectives.batch_checks`).

    Like a TorchRL loss: the base loss's networks, parameters and target parameters are
    attributes of the wrapper (``loss.actor_network_params``, ``SoftUpdate(loss)``), and
    :meth:`set_keys` takes the base loss's keys as well as ``demo`` and ``validation``.

    Drop-in use (TorchRL's trainers pass a bare replay batch): given ``demonstrations`` (an
    object with ``sample(n, generator=..., observation_key=..., action_key=...)``, such as
    :class:`~gild_torchrl.data.Demonstrations`), a guided update whose input lacks the demo
    batch draws ``demo_batch_size`` rows itself, and one that lacks validation states takes
    them from ``validation_source``: ``"batch"`` (the default: the replay batch's own states,
    as without a drop-in), ``"replay_buffer"`` (the spec's second replay batch, as many rows as
    the replay batch, drawn from the buffer given to :meth:`draw_validation_from`) or
    ``"demo"`` (the demo batch's states). The
    draws use the loss's own ``torch.Generator`` (seeded by ``seed``, else from torch's global
    RNG at the first draw), saved in ``state_dict``; entries present in the input always win,
    and a ``no_grad`` call leaves the generator where it was.

    The update schedule: by default the loss runs the policy delay (``forward(td)`` decides
    whether this update trains the actor); ``forward(td, update_actor=...)`` lets the caller
    decide instead. The counters (updates, guided actor updates) advance only on calls made
    with gradients enabled: ``with torch.no_grad(): loss(td)`` evaluates the next update
    without moving the delay's phase or the warm start.
    """

    @dataclass
    class _AcceptedKeys:
        """Where the extra batches live in the input TensorDict.

        Attributes:
            demo: sub-TensorDict with the demonstration batch (the actor's in_keys and the action key).
            validation: sub-TensorDict with the states of the meta-objective (the actor's in_keys).
        """

        demo: NestedKey = "demo"
        validation: NestedKey = "validation"

    default_keys = _AcceptedKeys
    tensor_keys: _AcceptedKeys

    def __init__(
        self,
        base_loss: LossModule,
        *,
        policy_delay: int | None = None,
        warm_start: int | float | None = None,
        total_updates: int | None = None,
        fast_path: bool = True,
        demonstrations: Any = None,
        demo_batch_size: int = 256,
        validation_source: Literal["replay_buffer", "batch", "demo"] = "batch",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.adapter = make_adapter(base_loss, fast_path)  # refuses a loss no registered algorithm declares an adapter for
        self.base_loss = base_loss
        # One registry of "has a target updater": SoftUpdate(wrapper) then marks the base loss's.
        self._has_update_associated = base_loss._has_update_associated
        if getattr(base_loss, "reduction", "mean") == "none":
            raise ValueError("base_loss.reduction='none'; the objectives need a scalar loss ('mean' or 'sum').")
        self.policy_delay = self.adapter.default_policy_delay if policy_delay is None else int(policy_delay)
        if self.policy_delay < 1:
            raise ValueError(f"policy_delay={policy_delay}; expected an int >= 1.")
        self.warm_start_updates = resolve_warm_start(warm_start, total_updates, self.policy_delay)
        self.num_updates = 0
        self.num_guided_updates = 0
        if validation_source not in VALIDATION_SOURCES:
            raise ValueError(f"validation_source={validation_source!r}; expected one of {VALIDATION_SOURCES}.")
        if int(demo_batch_size) < 1:
            raise ValueError(f"demo_batch_size={demo_batch_size!r}; expected an int >= 1.")
        self.demonstrations = demonstrations
        self.demo_batch_size = int(demo_batch_size)
        self.validation_source = validation_source
        self.draw_seed = seed
        self.draw_generator: torch.Generator | None = None  # made at the first draw (or by load_state_dict)
        self._validation_buffer = None

    # -- schedule ------------------------------------------------------------------------
    has_guide = False  # plain RL: nothing to add to the actor's objective
    uses_demonstrations = False  # guided updates read a demonstration batch
    uses_validation = False  # guided updates read validation states (else the replay batch's)

    @property
    def guiding(self) -> bool:
        """Whether the next actor update runs the extra objective (False once the warm start is over)."""
        if not self.has_guide:
            return False
        return self.warm_start_updates is None or self.num_guided_updates < self.warm_start_updates

    @property
    def counts_toward_warm_start(self) -> bool:
        """Whether a guided actor update now uses up the warm start."""
        return True

    @property
    def next_update_trains_actor(self) -> bool:
        return self.num_updates % self.policy_delay == 0

    # -- what the run asks (objectives.interface) -------------------------------------------
    def batches_for_next_update(self) -> NextBatches:
        """A guided actor update reads what the objective declares (``uses_demonstrations``, ``uses_validation``)."""
        guided = self.guiding and self.next_update_trains_actor
        return NextBatches(demo=guided and self.uses_demonstrations, validation=guided and self.uses_validation)

    def schedule_diagnostics(self) -> dict[str, float]:
        """Whether the objective still guides the actor, and how many actor updates it has guided."""
        return {"guiding": float(self.guiding), "guided_updates": self.num_guided_updates}

    def get_extra_state(self) -> dict[str, Any]:
        state = {"num_updates": self.num_updates, "num_guided_updates": self.num_guided_updates,
                 "warm_start_updates": self.warm_start_updates}
        if self.draw_generator is not None:  # a drop-in loss's draws resume exactly
            state["draw_generator"] = self.draw_generator.get_state()
        return state

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """The counters, and the warm start's resolved length: a run continued to a larger budget
        keeps the warm start it had (a fraction is not re-resolved against the new budget)."""
        self.num_updates = int(state["num_updates"])
        self.num_guided_updates = int(state["num_guided_updates"])
        if "warm_start_updates" in state:
            self.warm_start_updates = state["warm_start_updates"]
        if "draw_generator" in state:
            self.draw_generator = torch.Generator()
            self.draw_generator.set_state(state["draw_generator"])

    # -- batches -------------------------------------------------------------------------
    def _replay_batch(self, tensordict: TensorDictBase) -> TensorDictBase:
        return tensordict.exclude(self.tensor_keys.demo, self.tensor_keys.validation)

    def _demo_batch(self, tensordict: TensorDictBase) -> TensorDictBase:
        demo = tensordict.get(self.tensor_keys.demo, None)
        if demo is None:
            raise MissingBatchError(
                f"demo batch: {type(self).__name__} needs a demonstration batch at key {self.tensor_keys.demo!r} "
                f"of its input, found keys {sorted(map(str, tensordict.keys()))}."
            )
        return demo

    def _validation_batch(self, tensordict: TensorDictBase) -> TensorDictBase:
        """The meta-objective's states: ``tensor_keys.validation``, else the replay batch's own states."""
        validation = tensordict.get(self.tensor_keys.validation, None)
        return self._replay_batch(tensordict) if validation is None else validation

    def _base_forward(self, tensordict: TensorDictBase, loss_fn) -> TensorDictBase:
        """Run a base-loss call on the replay batch alone, then hand back what it writes (the priority)."""
        replay = self._replay_batch(tensordict)
        out = loss_fn(replay)
        priority_key = self.base_loss.tensor_keys.priority
        priority = replay.get(priority_key, None)
        if priority is not None:
            tensordict.set(priority_key, priority)
        return out

    # -- drop-in draws -----------------------------------------------------------------
    def draw_validation_from(self, replay_buffer) -> None:
        """The replay buffer (a TorchRL one, indexable by a tensor of rows) that
        ``validation_source="replay_buffer"`` draws the second replay batch from."""
        self._validation_buffer = replay_buffer

    def _generator(self) -> torch.Generator:
        if self.draw_generator is None:
            seed = self.draw_seed if self.draw_seed is not None else int(torch.randint(2**62, ()))
            self.draw_generator = torch.Generator().manual_seed(int(seed))
        return self.draw_generator

    def _with_drawn_batches(self, tensordict: TensorDictBase) -> TensorDictBase:
        """``tensordict`` with the demo batch and validation states a guided update lacks, drawn by the loss.

        Nothing is drawn when the input has them or when the loss was given nothing to draw
        from (``_checked_input`` then names what is missing); the result is a new TensorDict
        built by :func:`make_batch`, so the caller's input is left as it was.
        """
        keys = self.tensor_keys
        need_demo = self.uses_demonstrations and self.demonstrations is not None and keys.demo not in tensordict.keys(True)
        need_validation = (self.uses_validation and keys.validation not in tensordict.keys(True)
                           and self.validation_source != "batch")
        if not (need_demo or need_validation):
            return tensordict
        replay = self._replay_batch(tensordict)
        (observation,) = self.adapter.actor_in_keys
        generator = self._generator()
        saved = None if torch.is_grad_enabled() else generator.get_state()  # an evaluation draws from a copy
        demo = tensordict.get(keys.demo, None)
        if need_demo:
            demo = self.demonstrations.sample(self.demo_batch_size, generator=generator, **self.demo_keys)
            demo = demo.select(*self.demo_keys.values()).to(replay.get(observation).device)
        validation = tensordict.get(keys.validation, None)
        if need_validation and self.validation_source == "demo":
            if demo is None:
                raise MissingBatchError(f"validation_source='demo' takes the demo batch's states, but {type(self).__name__} "
                                        f"has no demo batch (give demonstrations= or a batch at key {keys.demo!r}).")
            validation = demo.select(observation)
        elif need_validation:
            buffer = self._validation_buffer
            if buffer is None:
                raise MissingBatchError(
                    "validation_source='replay_buffer' draws a second replay batch, but no replay buffer was given; "
                    "call loss.draw_validation_from(replay_buffer), or pass validation_source='batch' or 'demo'.")
            rows = replay.get(observation).shape[0]
            index = torch.randint(len(buffer), (rows,), generator=generator)
            validation = buffer[index].select(observation).to(replay.get(observation).device)
        if saved is not None:
            generator.set_state(saved)
        return make_batch(replay, demo, validation, keys=keys)

    # -- input -------------------------------------------------------------------------
    def _checked_input(self, tensordict: TensorDictBase, guided: bool) -> TensorDictBase:
        """``tensordict`` with its demo and validation batches checked and cast (a shallow copy if cast)."""
        dtype = next(iter(self.adapter.actor_params.values(True, True))).dtype
        replay = self._replay_batch(tensordict)
        check_replay(replay, self.adapter.replay_keys, dtype)
        if not guided:
            return tensordict
        checked = {}
        state_keys = self.adapter.actor_in_keys
        if self.uses_demonstrations:
            demo = self._demo_batch(tensordict)
            checked[self.tensor_keys.demo] = checked_side_batch(
                "demo", demo, [*state_keys, self.adapter.action_key], replay, dtype)
        validation = tensordict.get(self.tensor_keys.validation, None)
        if self.uses_validation and validation is not None:
            checked[self.tensor_keys.validation] = checked_side_batch("validation", validation, state_keys, replay, dtype)
        if all(tensordict.get(key) is batch for key, batch in checked.items()):
            return tensordict
        tensordict = tensordict.copy()
        for key, batch in checked.items():
            tensordict.set(key, batch)
        return tensordict

    def make_batch(
        self,
        replay: TensorDictBase,
        demo: TensorDictBase | None = None,
        validation: TensorDictBase | None = None,
    ) -> TensorDict:
        """:func:`make_batch` with this loss's ``demo`` / ``validation`` keys (as set by :meth:`set_keys`)."""
        return make_batch(replay, demo, validation, keys=self.tensor_keys)

    @property
    def demo_keys(self) -> dict[str, NestedKey]:
        """The keys a demonstration batch needs, for ``Demonstrations.sample(n, **loss.demo_keys)``."""
        (observation_key,) = self.adapter.actor_in_keys
        return {"observation_key": observation_key, "action_key": self.adapter.action_key}

    # -- update --------------------------------------------------------------------------
    def forward(self, tensordict: TensorDictBase, *, update_actor: bool | None = None) -> TensorDictBase:
        """One update's losses. ``update_actor``: whether it trains the actor (``None``: the policy delay decides)."""
        trains_actor = self.next_update_trains_actor if update_actor is None else bool(update_actor)
        guided = trains_actor and self.guiding
        inputs = self._checked_input(self._with_drawn_batches(tensordict) if guided else tensordict, guided)
        counts = guided and self.counts_toward_warm_start
        if torch.is_grad_enabled():  # an evaluation (no_grad) leaves the schedule where it is
            self.num_updates += 1
            self.num_guided_updates += int(counts)
        if not trains_actor:
            out = self._base_forward(inputs, self.adapter.critic_loss)
        elif not guided:
            out = self._base_forward(inputs, self.adapter.forward)
        else:
            out = self._guided_update(inputs)
        if inputs is not tensordict:  # what the base loss writes (the priority) reaches the caller's input
            priority_key = self.base_loss.tensor_keys.priority
            if priority_key in inputs.keys(include_nested=True):
                tensordict.set(priority_key, inputs.get(priority_key))
        return _detach_metadata(out)

    def _guided_update(self, tensordict: TensorDictBase) -> TensorDictBase:
        """One actor update with the extra objective; subclasses implement it."""
        raise NotImplementedError

    # -- analysis ------------------------------------------------------------------------
    @torch.no_grad()
    def demonstration_divergence(self, demonstrations: TensorDictBase, behaviour_policy=None) -> dict[str, float]:
        """How far the actor has drifted from the demonstrator, on the demonstrated states.

        ``demo_action_mse``: MSE between the actor's deterministic action (a stochastic policy's
        mode) and the demonstrated action, comparable across DDPG, TD3 and SAC; for a stochastic
        actor also ``demo_nll``, the negative log-likelihood of the demonstrated actions, and, given
        a ``behaviour_policy`` fitted to the demonstrations (a TanhNormal policy, see
        :mod:`gild_torchrl.modules.behaviour_policy`), ``demo_kl``: the mean of
        ``KL(pi(.|s) || behaviour(.|s))`` over the states, the paper's divergence measure. It is
        the paper's divergence analysis and works for every objective, plain RL included.
        """
        demo_action = demonstrations.get(self.adapter.action_key)
        with torch.random.fork_rng(devices=[]):  # a stochastic actor samples: leave training's RNG stream alone
            action, distribution = self.adapter.policy(demonstrations, self.adapter.actor_params)
        bc = behaviour_cloning_loss(action, distribution, demo_action, self.adapter.action_bounds(distribution))
        metrics = demonstration_metrics(action, distribution, demo_action, bc)
        result = {"demo_action_mse": float(metrics["demo_action_mse"])}
        if distribution is not None:
            result["demo_nll"] = float(metrics["bc_loss"])
            if behaviour_policy is not None:
                behaviour = behaviour_policy.get_dist(demonstrations.select(*self.adapter.actor_in_keys))
                result["demo_kl"] = float(tanh_normal_kl(distribution, behaviour).mean())
        return result

    # -- TorchRL plumbing ----------------------------------------------------------------
    def __getattr__(self, name: str):
        """Own modules and parameters first, then the base loss's (its networks, params, targets)."""
        try:
            return torch.nn.Module.__getattr__(self, name)
        except AttributeError:
            pass
        base = self.__dict__["_modules"].get("base_loss")
        if base is not None:
            try:
                return getattr(base, name)
            except AttributeError:
                pass
        return super().__getattr__(name)  # LossModule: a target without its own params reads the source's

    def named_children(self):
        """Own children, then the base loss's target parameters.

        TorchRL's ``SoftUpdate``/``HardUpdate`` find the target networks among the named
        children of the loss they are given; listing the base loss's here makes
        ``SoftUpdate(wrapper)`` work as ``SoftUpdate(base_loss)`` does. ``state_dict`` and
        ``parameters`` walk ``_modules`` and see each tensor once; ``.to()`` may visit the
        targets twice, which changes nothing.
        """
        yield from super().named_children()
        for name, child in self.base_loss.named_children():
            if name.startswith("target_") and name.endswith("_params") and name not in self._modules:
                yield name, child

    def set_keys(self, **kwargs) -> None:
        """Set ``demo`` / ``validation`` here and every other key on the base loss (``action``, ``reward``, ...)."""
        own_fields = self._AcceptedKeys.__dataclass_fields__
        base_fields = self.base_loss._AcceptedKeys.__dataclass_fields__
        unknown = [key for key in kwargs if key not in own_fields and key not in base_fields]
        if unknown:
            raise ValueError(
                f"{unknown} is not an accepted tensordict key of {type(self).__name__}; expected {list(own_fields)} or the base "
                f"{type(self.base_loss).__name__}'s keys {list(base_fields)}."
            )
        super().set_keys(**{k: v for k, v in kwargs.items() if k in own_fields})
        base = {k: v for k, v in kwargs.items() if k not in own_fields}
        if base:
            self.base_loss.set_keys(**base)

    @property
    def _action_spec(self):
        """The base loss's: TorchRL's ``SACTrainer`` reads and sets the action spec on the loss it is given."""
        return self.base_loss._action_spec

    @_action_spec.setter
    def _action_spec(self, spec) -> None:
        self.base_loss._action_spec = spec

    def make_value_estimator(self, value_type=None, **hyperparams):
        self.base_loss.make_value_estimator(value_type, **hyperparams)
        return self

    def _forward_value_estimator_keys(self, **kwargs) -> None:
        pass

    @property
    def in_keys(self):
        return list(self.base_loss.in_keys)


def _detach_metadata(out: TensorDictBase) -> TensorDictBase:
    """Only ``loss_*`` entries may carry a graph (DDPGLoss leaves its ``pred_value`` attached)."""
    for key, value in out.items():
        if not key.startswith("loss_") and isinstance(value, torch.Tensor) and value.requires_grad:
            out.set(key, value.detach())
    return out


def make_batch(
    replay: TensorDictBase,
    demo: TensorDictBase | None = None,
    validation: TensorDictBase | None = None,
    keys: BaseLossWrapper._AcceptedKeys | None = None,
) -> TensorDict:
    """One input TensorDict for the objectives from batches that may differ in size."""
    keys = keys or BaseLossWrapper._AcceptedKeys()
    batch = replay.clone(False)
    batch.batch_size = []
    if demo is not None:
        batch.set(keys.demo, demo)
    if validation is not None:
        batch.set(keys.validation, validation)
    return batch
