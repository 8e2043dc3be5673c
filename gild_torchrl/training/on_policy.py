"""The on-policy run (TRPO and LOGO), on the same run directory, logging, checkpoints and exact
resume as the off-policy run, from the same parts (:mod:`~gild_torchrl.training.session`): collect a
batch with the current stochastic policy, take one LOGO (or TRPO) iteration on it, evaluate,
checkpoint, log.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from omegaconf import DictConfig

from gild_torchrl.objectives.logo import LOGO, demonstration_pairs
from gild_torchrl.training import run_guard
from gild_torchrl.training import checkpoint as checkpoints
from gild_torchrl.training.build import (make_collector, make_demonstrations, make_divergence_batch, make_environment,
                                         make_reference_demonstrations)
from gild_torchrl.training.evaluate import evaluate
from gild_torchrl.training.loggers import episode_scalars, flush_logger, log_scalars, make_logger
from gild_torchrl.training.provenance import record_launch
from gild_torchrl.training.run_dir import EVAL_FILE, EvaluationCSV, Progress, write_run_info
from gild_torchrl.training.session import (EvaluationHook, checkpoint_due, finish_run, finished_already, next_after,
                                           progress_bar, record_evaluation, resume_collection, rewarded_in, run_info,
                                           start_run, stop_requested)


def make_logo(cfg: DictConfig, env) -> LOGO:
    """The policy, value networks and discriminator of ``cfg.trpo`` / ``cfg.logo``; guided for objective logo."""
    t, g = cfg.trpo, cfg.logo
    return LOGO(env.observation_spec["observation"].shape[-1], env.action_spec_unbatched,
                tuple(cfg.network.hidden_sizes), guided=cfg.loss.objective == "logo", gamma=cfg.optim.gamma,
                lmbda=t.lmbda, max_kl=t.max_kl, guidance_kl=g.guidance_kl, guidance_decay=g.guidance_decay,
                cg_iterations=t.cg_iterations, damping=t.damping, value_epochs=t.value_epochs,
                value_batch_size=t.value_batch_size, discriminator_steps=g.discriminator_steps,
                discriminator_batch_size=g.discriminator_batch_size, discriminator_cells=tuple(g.discriminator_hidden_sizes))


@run_guard.guarded
def train(cfg: DictConfig, on_evaluation: EvaluationHook | None = None) -> dict[str, Any]:
    """Run TRPO (``loss.objective=rl``) or LOGO (``logo``) end to end, or continue it from its checkpoint."""
    run_dir, checkpoint = start_run(cfg)
    train_env, eval_env = make_environment(cfg)
    guided = cfg.loss.objective == "logo"
    demos = make_demonstrations(cfg, train_env) if guided else make_reference_demonstrations(cfg, train_env)
    divergence_batch = make_divergence_batch(cfg, demos)
    write_run_info(run_dir, run_info(cfg, demos))
    agent = make_logo(cfg, train_env)
    optimizers = agent.optimizers(cfg.trpo.value_lr, cfg.logo.discriminator_lr)
    demo_pairs = demonstration_pairs(demos) if guided else None
    progress = Progress(next_eval=cfg.eval.interval, next_checkpoint=cfg.checkpoint.interval)
    restored = None
    if checkpoint is not None:
        restored = checkpoints.load(checkpoint, cfg, agent, optimizers, None)
        progress = restored.progress
    frames = progress.frames
    if finished_already(run_dir, checkpoint, progress, cfg):
        return {"frames": frames, "updates": progress.updates, "wall_time": 0.0}
    record_launch(run_dir, frames, cfg.collector.total_frames, cfg.collector.device or "cpu", config=cfg)
    collector = make_collector(cfg, train_env, agent.policy, collected_frames=frames)
    resume_collection(restored, checkpoint, collector, (train_env, eval_env), cfg)
    logger = make_logger(cfg, run_dir, resume_frames=frames if checkpoint is not None else None)
    evaluations = EvaluationCSV(run_dir / EVAL_FILE, keep_until=frames if checkpoint is not None else None)

    start = time.perf_counter()
    earlier_wall_time = progress.wall_time
    last_eval: dict[str, Any] = {}
    stopped = "budget"
    timers = dict.fromkeys(("collect", "update", "eval", "log", "checkpoint"), 0.0)
    bar = progress_bar(cfg, frames, f"trpo+{cfg.loss.objective}")
    tick = time.perf_counter()
    for data in collector:
        timers["collect"] += time.perf_counter() - tick
        tick = time.perf_counter()
        data = data.reshape(-1)
        progress.frames += data.numel()
        progress.rewarded += rewarded_in(data)
        if progress.rewarded and progress.first_reward_frame is None:
            progress.first_reward_frame = progress.frames
        frames = progress.frames
        out = agent.iteration(data, demo_pairs, optimizers, iteration=progress.updates)  # one iteration per batch
        progress.updates += 1
        collector.update_policy_weights_()
        timers["update"] += time.perf_counter() - tick

        tick = time.perf_counter()
        wall = time.perf_counter() - start
        values = {**episode_scalars(data), **{f"train/{k}": v for k, v in out.items() if k.startswith("loss_")},
                  **{f"logo/{k}": v for k, v in out.items() if not k.startswith("loss_")},
                  "gild/rewarded_transitions": progress.rewarded, "throughput/frames_per_s": frames / wall,
                  **{f"time/{name}": seconds for name, seconds in timers.items()}}
        log_scalars(logger, values, frames)
        timers["log"] += time.perf_counter() - tick
        done = frames >= cfg.collector.total_frames
        if frames >= progress.next_eval or done:
            tick = time.perf_counter()
            last_eval = evaluate(agent.policy, eval_env, cfg.eval.episodes)
            if divergence_batch is not None:
                last_eval.update(agent_divergence(agent, divergence_batch))
            timers["eval"] += time.perf_counter() - tick
            row = record_evaluation(last_eval, frames, progress.updates, start, evaluations, logger, bar)
            progress.next_eval = next_after(progress.next_eval, frames, cfg.eval.interval)
            if on_evaluation is not None and on_evaluation(agent, row):
                stopped, done = "target", True
        if checkpoint_due(cfg, progress, frames, done):
            progress.next_checkpoint = next_after(progress.next_checkpoint, frames, cfg.checkpoint.interval)
            progress.wall_time = earlier_wall_time + time.perf_counter() - start
            flush_logger(logger)
            timers["checkpoint"] += checkpoints.save(run_dir, cfg, agent, optimizers, None, progress,
                                                     collector=collector, envs=(train_env, eval_env))
        bar.update(data.numel())
        if done:
            break
        if stop_requested():
            stopped = stop_requested()
            break
        tick = time.perf_counter()
    return finish_run(cfg, run_dir, (bar, collector, train_env, eval_env), logger, last_eval, progress, start,
                      earlier_wall_time, stopped, timers)


@torch.no_grad()
def agent_divergence(agent: LOGO, demonstrations) -> dict[str, float]:
    """The policy's distance to the demonstrator on the demonstrated states: the action MSE of its
    mode and the NLL of the demonstrated actions (as ``demonstration_divergence`` for SAC)."""
    from gild_torchrl.objectives.behaviour_cloning import clamp_inside

    dist = agent.policy.get_dist(demonstrations.select("observation"))
    action = demonstrations.get("action")
    mse = torch.nn.functional.mse_loss(dist.deterministic_sample, action)
    nll = -dist.log_prob(clamp_inside(action, agent.low, agent.high, 1e-3)).mean()
    return {"demo_action_mse": float(mse), "demo_nll": float(nll)}


__all__ = ["make_logo", "train"]
