"""The off-policy run (DDPG, TD3, SAC with every objective): one function that reads top to bottom,
like TorchRL's sota scripts.

Collect with the exploration policy, store in the replay buffer, and after the random phase run
one update per collected frame on a replay batch, a demonstration batch and validation states,
with GILD (or a baseline) for its warm start and plain RL afterwards; evaluate on the dense task,
checkpoint, log.

The run's start, evaluation record, checkpoints and finish are the parts in
:mod:`~gild_torchrl.training.session` that the on-policy run shares; the counters change here.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

import torch
from omegaconf import DictConfig

from gild_torchrl.objectives import get_objective
from gild_torchrl.training import run_guard
from gild_torchrl.training import checkpoint as checkpoints
from gild_torchrl.training.build import (make_behaviour_policy, make_collector, make_demonstrations,
                                         make_divergence_batch, make_environment, make_evaluation_envs,
                                         make_exploration_policy, make_loss_module, make_optimizers,
                                         make_reference_demonstrations, make_replay_buffer, make_target_updater)
from gild_torchrl.training.config import ConfigError
from gild_torchrl.training.evaluate import evaluate
from gild_torchrl.training.loggers import flush_logger, log_scalars, log_training, make_logger, split_outputs
from gild_torchrl.training.provenance import record_launch
from gild_torchrl.training.run_dir import EVAL_FILE, EvaluationCSV, Progress, write_run_info
from gild_torchrl.training.session import (EvaluationHook, checkpoint_due, finish_run, finished_already, next_after,
                                           progress_bar, record_evaluation, resume_collection, rewarded_in, run_info,
                                           start_run, stop_requested)
from gild_torchrl.training.update import replay_keys, sample_batch, update


@run_guard.guarded
def train(cfg: DictConfig, on_evaluation: EvaluationHook | None = None) -> dict[str, Any]:
    """Run one experiment end to end (or continue it from its checkpoint); returns the last evaluation and totals."""
    run_dir, checkpoint = start_run(cfg)
    train_env, eval_env = make_environment(cfg)
    eval_envs = make_evaluation_envs(cfg, eval_env)  # one per episode, stepped together
    objective = get_objective(cfg.loss.objective)
    demos = make_demonstrations(cfg, train_env) if objective.uses_demonstrations else None
    reference = demos if demos is not None else make_reference_demonstrations(cfg, train_env)
    divergence_batch = make_divergence_batch(cfg, reference)
    write_run_info(run_dir, run_info(cfg, reference))
    loss_module = make_loss_module(cfg, train_env, demos)
    behaviour_policy = make_behaviour_policy(cfg, train_env, reference, run_dir)
    target_updater = make_target_updater(cfg, loss_module)
    optimizers = make_optimizers(cfg, loss_module)
    policy = make_exploration_policy(cfg, loss_module, train_env)
    replay_buffer = make_replay_buffer(cfg)
    progress = Progress(next_eval=cfg.eval.interval, next_checkpoint=cfg.checkpoint.interval)
    restored = None
    if checkpoint is not None:
        try:
            restored = checkpoints.load(checkpoint, cfg, loss_module, optimizers, replay_buffer)
        except ValueError as err:
            raise ConfigError(f"resume={cfg.resume!r}: {err}") from None
        progress = restored.progress
    frames = progress.frames
    if finished_already(run_dir, checkpoint, progress, cfg):
        return {"frames": frames, "updates": progress.updates, "wall_time": 0.0}
    record_launch(run_dir, frames, cfg.collector.total_frames, cfg.collector.device or "cpu", config=cfg)
    collector = make_collector(cfg, train_env, policy, collected_frames=frames)
    resume_collection(restored, checkpoint, collector, (train_env, *eval_envs), cfg)
    skipped = Counter(progress.skipped)  # updates not applied to a group because its gradient was not finite
    logger = make_logger(cfg, run_dir, resume_frames=frames if checkpoint is not None else None)
    evaluations = EvaluationCSV(run_dir / EVAL_FILE, keep_until=frames if checkpoint is not None else None)
    log_scalars(logger, {f"gild/{k}": v for k, v in loss_module.diagnostics_at_start().items()}, step=0)

    start = time.perf_counter()
    earlier_wall_time = progress.wall_time  # of the launches before a resume
    updates_per_batch = int(cfg.collector.frames_per_batch * cfg.optim.utd_ratio)
    last_eval: dict[str, Any] = {}
    stopped = "budget"
    timers = dict.fromkeys(("collect", "sample", "update", "eval", "log", "checkpoint"), 0.0)
    bar = progress_bar(cfg, frames, f"{cfg.algorithm}+{cfg.loss.objective}")
    rewarded_seen = False  # this launch has told the objective that a reward is stored
    stored = replay_keys(loss_module)  # a checkpoint's buffer with every entry (before 2026-12-07) still extends and samples
    tick = time.perf_counter()
    for data in collector:
        timers["collect"] += time.perf_counter() - tick
        tick = time.perf_counter()
        data = data.reshape(-1)
        replay_buffer.extend(data.select(*stored, strict=False))
        progress.frames += data.numel()
        progress.rewarded += rewarded_in(data)
        if progress.rewarded and progress.first_reward_frame is None:
            progress.first_reward_frame = progress.frames
        frames = progress.frames
        if progress.rewarded and not rewarded_seen:
            loss_module.on_first_reward()  # meta_start=first_reward waits for this
            rewarded_seen = True
        timers["sample"] += time.perf_counter() - tick

        out = {}  # the latest value of every loss and diagnostic this batch produced
        if frames > cfg.collector.init_random_frames:  # the random phase is over
            if not progress.updates:  # what collecting the random phase cost (benchmarks/recipe_throughput.py)
                timers["random_phase"] = timers["collect"] + timers["sample"] + timers["log"]
            for i in range(updates_per_batch):
                tick = time.perf_counter()
                batch = sample_batch(loss_module, replay_buffer, demos, cfg)
                timers["sample"] += time.perf_counter() - tick
                tick = time.perf_counter()
                result = update(loss_module, optimizers, target_updater, batch, skipped).detach()
                out.update(result.items())
                progress.updates += 1
                timers["update"] += time.perf_counter() - tick
                if loss_module.diagnostics_per_update and loss_module.update_diagnostics_due(result):
                    # a guided update's diagnostics, at its frame: the batch's updates spread evenly over its frames
                    step = frames - data.numel() + math.ceil((i + 1) * data.numel() / updates_per_batch)
                    log_scalars(logger, split_outputs(result)[1], step)
        collector.update_policy_weights_()

        tick = time.perf_counter()
        out.update({f"nonfinite_skips_{name}": torch.tensor(float(skipped[name])) for name in optimizers})
        log_training(logger, data, out, loss_module, frames, progress, timers, start)
        timers["log"] += time.perf_counter() - tick
        done = frames >= cfg.collector.total_frames
        if frames >= progress.next_eval or done:
            tick = time.perf_counter()
            last_eval = evaluate(loss_module.base_loss.actor_network, eval_envs, cfg.eval.episodes)
            if divergence_batch is not None:
                last_eval.update(loss_module.demonstration_divergence(divergence_batch, behaviour_policy))
            timers["eval"] += time.perf_counter() - tick
            row = record_evaluation(last_eval, frames, progress.updates, start, evaluations, logger, bar)
            progress.next_eval = next_after(progress.next_eval, frames, cfg.eval.interval)
            if on_evaluation is not None and on_evaluation(loss_module, row):
                stopped, done = "target", True
        progress.skipped = dict(skipped)
        if checkpoint_due(cfg, progress, frames, done):
            progress.next_checkpoint = next_after(progress.next_checkpoint, frames, cfg.checkpoint.interval)
            progress.wall_time = earlier_wall_time + time.perf_counter() - start
            flush_logger(logger)
            timers["checkpoint"] += checkpoints.save(run_dir, cfg, loss_module, optimizers, replay_buffer, progress,
                                                     collector=collector, envs=(train_env, *eval_envs))
        bar.update(data.numel())
        if done:
            break
        if stop_requested():
            stopped = stop_requested()
            break
        tick = time.perf_counter()
    return finish_run(cfg, run_dir, (bar, collector, train_env, *eval_envs), logger, last_eval, progress, start,
                      earlier_wall_time, stopped, timers)


__all__ = ["train"]
