"""The training loop: one function that reads top to bottom, like TorchRL's sota scripts.

Collect with the exploration policy, store in the replay buffer, and after the random phase run
one update per collected frame on a replay batch, a demonstration batch and validation states,
with GILD (or a baseline) for its warm start and plain RL afterwards; evaluate on the dense task,
checkpoint, log.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tensordict import TensorDictBase
from tqdm import tqdm

from gild_torchrl.algorithms import get_algorithm
from gild_torchrl.data import DemonstrationError, Demonstrations
from gild_torchrl.objectives import BaseLossWrapper, get_objective
from gild_torchrl.training import checkpoint as checkpoints
from gild_torchrl.training import run_guard
from gild_torchrl.training.build import (make_behaviour_policy, make_collector, make_demonstrations, make_divergence_batch, make_environment,
                                         make_evaluation_envs,
                                         make_exploration_policy, make_loss_module, make_optimizers,
                                         make_reference_demonstrations, make_replay_buffer, make_target_updater)
from gild_torchrl.training.config import ConfigError, check_config, command_line_keys
from gild_torchrl.training.evaluate import evaluate
from gild_torchrl.training.loggers import close_logger, flush_logger, log_scalars, log_training, make_logger, split_outputs
from gild_torchrl.training.provenance import read_run_config, record_launch
from gild_torchrl.training.run_dir import (EVAL_FILE, PROVENANCE_FILE, RESULT_FILE, RUN_CONFIG_FILE, RUN_OUTPUTS, EvaluationCSV,
                                           Progress, RunDirError, claim_run_dir, remove_outputs, write_result, write_run_info)
from gild_torchrl.training.update import replay_keys, sample_batch, update

#: ``(loss_module, evaluation row) -> stop?``: called after every evaluation (collect_demos stops at a target return).
EvaluationHook = Callable[[BaseLossWrapper, Mapping[str, Any]], bool]
EVAL_LOGGED = ("dense_return", "sparse_return", "length", "x_final", "demo_action_mse", "demo_nll", "demo_kl")


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def skip_absent_pandas_probe() -> None:
    """tensordict 0.14 looks for pandas (``importlib.util.find_spec``, about 34 us) on every
    ``TensorDictModule`` output; where pandas is not installed, record it as absent once so the
    lookup returns at once (``import pandas`` still fails as it did)."""
    if "pandas" not in sys.modules and importlib.util.find_spec("pandas") is None:
        sys.modules["pandas"] = None  # type: ignore[assignment]


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
    bar = tqdm(total=cfg.collector.total_frames, initial=frames, desc=f"{cfg.algorithm}+{cfg.loss.objective}",
               disable=not cfg.logger.progress_bar, unit="frames", file=sys.stdout, mininterval=2.0,
               **bar_size(sys.stdout))
    rewarded_seen = False  # this launch has told the objective that a reward is stored
    stored = replay_keys(loss_module)  # a checkpoint's buffer with every entry (before 2026-12-07) still extends and samples
    tick = time.perf_counter()
    for data in collector:
        timers["collect"] += time.perf_counter() - tick
        tick = time.perf_counter()
        data = data.reshape(-1)
        replay_buffer.extend(data.select(*stored, strict=False))
        frames = count_collected(progress, data)
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
            row = record_evaluation(cfg, last_eval, frames, progress, start, evaluations, logger, bar)
            if on_evaluation is not None and on_evaluation(loss_module, row):
                stopped, done = "target", True
        progress.skipped = dict(skipped)
        if checkpoint_due(cfg, progress, frames, done, earlier_wall_time, start, logger):
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


def bar_size(stream) -> dict[str, int]:
    """The progress bar's size: tqdm's own choice (``{}``), except on a terminal that reports no size
    (0 columns, as some containers' terminals do), where tqdm would print a blank line: 80 x 24 then."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return {}  # not a terminal
    return {} if columns > 0 else {"ncols": 80, "nrows": 24}


def count_collected(progress: Progress, data: TensorDictBase) -> int:
    """Add a collected batch to the run's counters (frames, rewarded transitions, the frame of the
    first reward); returns the frames collected so far."""
    progress.frames += data.numel()
    progress.rewarded += int((data.get(("next", "reward")) != 0).sum())
    if progress.rewarded and progress.first_reward_frame is None:
        progress.first_reward_frame = progress.frames
    return progress.frames


def record_evaluation(cfg: DictConfig, last_eval: Mapping[str, Any], frames: int, progress: Progress, start: float,
                      evaluations: EvaluationCSV, logger, bar) -> dict[str, Any]:
    """An evaluation's row in ``eval.csv`` and its ``eval/`` scalars; the next one is scheduled."""
    row = {"frames": frames, "updates": progress.updates, "wall_time": round(time.perf_counter() - start, 2), **last_eval}
    evaluations.append(row)
    log_scalars(logger, {f"eval/{k}": last_eval[k] for k in EVAL_LOGGED if k in last_eval}, frames)
    bar.set_postfix(dense=f"{last_eval['dense_return']:.1f}", sparse=f"{last_eval['sparse_return']:.1f}")
    while progress.next_eval <= frames:
        progress.next_eval += cfg.eval.interval
    return row


def checkpoint_due(cfg: DictConfig, progress: Progress, frames: int, done: bool, earlier_wall_time: float,
                   start: float, logger) -> bool:
    """Whether a checkpoint is due now (by frames, by wall time, or because a signal asked the run to
    stop); if so the counters it saves are brought up to date and the logger flushed."""
    guard = run_guard.active()
    by_guard = guard is not None and guard.checkpoint_due()
    if not cfg.checkpoint.interval or not (frames >= progress.next_checkpoint or done or by_guard):
        return False
    while progress.next_checkpoint <= frames:
        progress.next_checkpoint += cfg.checkpoint.interval
    if guard is not None:
        guard.checkpointed()
    progress.frames = frames
    progress.wall_time = earlier_wall_time + time.perf_counter() - start
    flush_logger(logger)
    return True


def stop_requested() -> str:
    """The name of the signal that asked the run in progress to stop (``""``: none)."""
    guard = run_guard.active()
    return guard.signal_name if guard is not None else ""


def finish_run(cfg: DictConfig, run_dir: Path, closing: tuple, logger, last_eval: Mapping[str, Any], progress: Progress,
               start: float, earlier_wall_time: float, stopped: str, timers: Mapping[str, float]) -> dict[str, Any]:
    """Close the bar, collector and envs, write ``result.json`` (the run is finished), drop the final
    checkpoint unless ``checkpoint.keep_final``; returns the result. A run stopped by a signal
    (``stopped``: its name) is not finished: it writes no ``result.json`` and keeps its checkpoint."""
    bar, collector, *envs = closing
    bar.close()
    collector.shutdown()
    for env in envs:
        env.close()
    close_logger(logger)
    wall_time = time.perf_counter() - start
    result = {**last_eval, "frames": progress.frames, "updates": progress.updates, "wall_time": wall_time,
              "total_wall_time": earlier_wall_time + wall_time, "stopped": stopped,
              "first_reward_frame": progress.first_reward_frame, "rewarded_transitions": progress.rewarded, **timers}
    if stopped.startswith("SIG"):
        return result
    write_result(run_dir, result)
    if not cfg.checkpoint.get("keep_final", True):
        for name in checkpoints.CHECKPOINT_DIRS:
            shutil.rmtree(run_dir / name, ignore_errors=True)  # studies keep results, not replay buffers
    return result


def start_run(cfg: DictConfig) -> tuple[Path, Path | None]:
    """Check the config, set threads and seeds, lock and claim the run directory (or find the
    checkpoint to resume from): returns the directory and that checkpoint (None for a new run, or
    for an unfinished one stopped before its first checkpoint, which starts again from frame 0).
    Nothing but the lock file is written in the directory before the launch is accepted."""
    check_config(cfg)
    skip_absent_pandas_probe()
    torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    run_dir = Path(cfg.run_dir)
    guard = run_guard.take(run_dir, cfg.checkpoint.get("minutes"))  # released when train returns (run_guard.guarded)
    checkpoint = None
    if cfg.resume:
        checkpoint = checkpoints.find(run_dir)
        if checkpoint is None:
            if (run_dir / RESULT_FILE).is_file() or not (run_dir / RUN_CONFIG_FILE).is_file():
                raise ConfigError(f"resume={cfg.resume!r}: {run_dir} holds no complete checkpoint to continue from.")
            print(f"{run_dir} was stopped before its first checkpoint: it starts again from frame 0 with its config.",
                  flush=True)
            remove_outputs(run_dir, [name for name in RUN_OUTPUTS if name not in (PROVENANCE_FILE, RUN_CONFIG_FILE)])
    else:
        claim_run_dir(run_dir, overwrite=bool(cfg.get("overwrite", False)))
    guard.claim()  # the run's config is written by record_launch, once the envs and demonstrations were accepted
    return run_dir, checkpoint


def finished_already(run_dir: Path, checkpoint: Path | None, progress: Progress, cfg: DictConfig) -> bool:
    """A resumed run that already has its budget says so; one continued to a larger budget is unfinished again."""
    if progress.frames >= cfg.collector.total_frames:
        print(f"{run_dir} already finished at {progress.frames} frames; nothing to resume "
              f"(give a larger collector.total_frames to continue it).")
        return True
    if checkpoint is not None:
        (run_dir / RESULT_FILE).unlink(missing_ok=True)
    return False


def resume_collection(restored, checkpoint: Path | None, collector, envs: tuple, cfg: DictConfig) -> None:
    """The collector and envs where the checkpoint left them (see :func:`checkpoint.resume_collection`)."""
    if restored is not None and not checkpoints.resume_collection(restored, collector, envs, seed=int(cfg.env.seed)):
        print(f"{checkpoint}: written before collection states were saved; the envs are reseeded, "
              f"so this resume does not repeat the uninterrupted run exactly.")


def run_info(cfg: DictConfig, demos: Demonstrations | None) -> dict[str, Any]:
    """What ``run.json`` says the run is: task, algorithm, setting, seed, budget, the demonstrator's returns."""
    meta = demos.meta if demos is not None else {}
    dense = meta.get("dense_returns") or meta.get("returns")  # PointNav's "returns" are its sparse ones
    sparse = meta.get("sparse_returns") or (meta.get("returns") if "dense_returns" in meta else None)
    return {
        "task": cfg.env.name,
        "algorithm": cfg.algorithm,
        "setting": cfg.get("setting") or cfg.loss.objective,
        "objective": cfg.loss.objective,
        "seed": int(cfg.seed),
        "total_frames": int(cfg.collector.total_frames),
        "eval_interval": int(cfg.eval.interval),
        "demonstrator_dense_return": float(np.mean(dense)) if dense else None,
        "demonstrator_sparse_return": float(np.mean(sparse)) if sparse else None,
    }


def resume_config(cfg: DictConfig, extend_to: int | None = None) -> DictConfig:
    """The configuration a ``resume=<run dir>`` run continues with: the one stored in its checkpoint,
    with a new budget when ``extend_to`` (or ``collector.total_frames`` on the command line) gives one;
    settings added since the checkpoint was written take their defaults."""
    run_dir = Path(cfg.resume)
    path = checkpoints.find(run_dir)
    if path is not None:
        stored = checkpoints.read_config(path)
    elif not (run_dir / RESULT_FILE).is_file() and (run_dir / RUN_CONFIG_FILE).is_file():
        stored = read_run_config(run_dir)  # stopped before its first checkpoint: it starts again with its config
    else:
        raise ConfigError(f"resume={cfg.resume!r} holds no complete checkpoint to continue from.")
    if stored.algorithm != cfg.algorithm:
        raise ConfigError(f"resume={cfg.resume!r} holds a {stored.algorithm} run; this recipe runs {cfg.algorithm}.")
    if extend_to is None and "collector.total_frames" in command_line_keys():
        extend_to = cfg.collector.total_frames
    if extend_to is not None:
        stored.collector.total_frames = int(extend_to)
    stored = OmegaConf.merge(OmegaConf.create(OmegaConf.to_container(cfg, resolve=False)), stored)
    stored.resume = cfg.resume
    stored.run_dir = cfg.resume  # where the run lies now: a copied or moved run continues there, not where it was written
    return stored


def trainer(cfg: DictConfig) -> Callable[..., dict[str, Any]]:
    """The run of ``cfg.algorithm``: its own (``Algorithm.trainer``, e.g. TRPO's on-policy one) or :func:`train`."""
    try:
        name = get_algorithm(cfg.algorithm).trainer
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if name is None:
        return train
    module, function = name.split(":")
    return getattr(importlib.import_module(module), function)


def run(cfg: DictConfig, extend_to: int | None = None, on_evaluation: EvaluationHook | None = None,
        how_to_continue: str | None = None) -> dict[str, Any]:
    """A recipe's body: train, and turn the errors a user can fix into one sentence and exit code 2.

    With ``resume=<run dir>`` the run continues with the configuration stored in its checkpoint.
    ``collector.total_frames`` given on the command line with ``resume`` (or ``extend_to``, as the
    studies pass it) sets a new budget: a finished run whose final checkpoint was kept continues
    to it, its curves, counters and warm start carrying on. A run stopped by SIGINT or SIGTERM says
    how to continue it (``how_to_continue``, or the recipe's ``resume=`` command) and exits with 130 or 143.
    """
    try:
        if cfg.resume:
            cfg = resume_config(cfg, extend_to)
        result = trainer(cfg)(cfg, on_evaluation=on_evaluation)
    except (ConfigError, DemonstrationError, RunDirError, checkpoints.CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    if str(result.get("stopped", "")).startswith("SIG"):
        stopped_by_signal(cfg, result, how_to_continue)
    print(f"done: {result['frames']} frames, {result['updates']} updates in {result['wall_time']:.0f}s; "
          f"last evaluation dense {result.get('dense_return', float('nan')):.1f}, "
          f"sparse {result.get('sparse_return', float('nan')):.1f}; run directory {cfg.run_dir}")
    return result


def stopped_by_signal(cfg: DictConfig, result: Mapping[str, Any], how_to_continue: str | None) -> None:
    """One line on how to continue a run that a signal stopped, then the shell's exit code for that signal."""
    import signal

    run_dir = cfg.run_dir
    if how_to_continue is None:
        script = sys.argv[0] if sys.argv[0].endswith(".py") else f"recipes/{cfg.algorithm}_gild.py"
        how_to_continue = f"python {script} resume={run_dir}"
    if cfg.checkpoint.interval:
        print(f"stopped by {result['stopped']} at {result['frames']} frames, checkpoint written; continue with: "
              f"{how_to_continue}", file=sys.stderr, flush=True)
    else:
        print(f"stopped by {result['stopped']} at {result['frames']} frames without a checkpoint (checkpoint.interval=0); "
              f"{how_to_continue} starts it again from frame 0", file=sys.stderr, flush=True)
    raise SystemExit(128 + int(signal.Signals[result["stopped"]]))
