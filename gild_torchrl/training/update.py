"""One gradient update of the run: the batches it reads, and the step that guards against non-finite gradients."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import torch
from omegaconf import DictConfig
from tensordict import TensorDictBase
from torchrl.objectives import SoftUpdate

from gild_torchrl.data import Demonstrations
from gild_torchrl.objectives import BaseLossWrapper


def replay_keys(loss_module: BaseLossWrapper) -> list:
    """What the replay buffer stores of a collected batch: the entries the base loss reads (state,
    action, next state, reward, done) and ``("next", "terminated")``, which TorchRL's value
    estimators read when it is there. The env's other entries (info, episode sums, step counts)
    would only make every store and every sample slower."""
    terminated = loss_module.base_loss.tensor_keys.terminated
    return [*loss_module.adapter.replay_keys, ("next", *((terminated,) if isinstance(terminated, str) else terminated))]


def sample_batch(loss_module: BaseLossWrapper, replay_buffer, demos: Demonstrations | None, cfg: DictConfig) -> TensorDictBase:
    """A replay batch, plus the demo batch and validation states the objective says its next update reads."""
    replay = replay_buffer.sample()
    needs = loss_module.batches_for_next_update()
    if not needs.any:
        return replay
    demo = None
    if needs.demo and demos is not None:
        keys = loss_module.demo_keys
        demo = demos.sample(cfg.demos.batch_size, **keys).select(*keys.values())
    validation = None
    if needs.validation:
        observation = loss_module.demo_keys["observation_key"]
        if cfg.loss.validation_batch == "demo" and demo is not None:
            validation = demo.select(observation)  # the meta-objective on the demonstrated states
        elif cfg.loss.validation_batch:
            validation = replay_buffer.sample().select(observation)  # the spec's second replay batch
    return loss_module.make_batch(replay, demo, validation)


def update(
    loss_module: BaseLossWrapper,
    optimizers: Mapping[str, torch.optim.Optimizer],
    target_updater: SoftUpdate,
    batch: TensorDictBase,
    skipped: Counter | None = None,
) -> TensorDictBase:
    """One gradient update: the summed ``loss_*`` entries give every network its own gradient.

    A parameter group whose gradient is not finite (a NaN or inf in a loss or the meta-gradient)
    is not stepped this update, and ``skipped[group]`` counts it, so one bad batch cannot
    corrupt the networks; the other groups step as usual.
    """
    out = loss_module(batch)
    total = sum(value for key, value in out.items() if key.startswith("loss_"))
    for optimizer in optimizers.values():
        optimizer.zero_grad(set_to_none=True)
    total.backward()
    grads = {name: [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
             for name, optimizer in optimizers.items()}
    stepped = [name for name, group in grads.items() if group]  # TD3's delayed actor has none on critic updates
    norms = torch._foreach_norm([g for name in stepped for g in grads[name]])  # inf or nan iff a gradient is
    finite = torch.isfinite(torch.stack(norms)).split([len(grads[name]) for name in stepped]) if norms else []
    for name, group_finite in zip(stepped, finite):
        if not bool(group_finite.all()):
            optimizers[name].zero_grad(set_to_none=True)
            if skipped is not None:
                skipped[name] += 1
            continue
        optimizers[name].step()
    if loss_module.trained_actor(out):
        target_updater.step()
    return out
