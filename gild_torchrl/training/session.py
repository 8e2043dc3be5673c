"""A run's life around its loop, shared by the off-policy and on-policy runs: the start (config checks,
threads, seeds, claiming or resuming the run directory), the record of an evaluation, when a
checkpoint is due, a stop asked by a signal, and the finish (``result.json``).

The loops change the run's counters (:class:`~gild_torchrl.training.run_dir.Progress`) themselves, in
view; these parts read them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from tensordict import TensorDictBase
from tqdm import tqdm

from gild_torchrl.data import Demonstrations
from gild_torchrl.objectives import BaseLossWrapper
from gild_torchrl.training import run_guard
from gild_torchrl.training import checkpoint as checkpoints
from gild_torchrl.training.config import ConfigError, check_config
from gild_torchrl.training.loggers import close_logger, log_scalars
from gild_torchrl.training.run_dir import (EvaluationCSV, PROVENANCE_FILE, Progress, RESULT_FILE, RUN_CONFIG_FILE,
                                           RUN_OUTPUTS, claim_run_dir, remove_outputs, write_result)


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


def rewarded_in(data: TensorDictBase) -> int:
    """The transitions of a collected batch with a non-zero reward."""
    return int((data.get(("next", "reward")) != 0).sum())


def next_after(due: int, frames: int, interval: int) -> int:
    """The next frame count on the ``interval`` grid from ``due`` that lies past ``frames`` (the next evaluation or checkpoint)."""
    while due <= frames:
        due += interval
    return due


def progress_bar(cfg: DictConfig, frames: int, desc: str) -> tqdm:
    """The run's progress bar over ``collector.total_frames``, from ``frames`` (a resumed run's)."""
    return tqdm(total=cfg.collector.total_frames, initial=frames, desc=desc, disable=not cfg.logger.progress_bar,
                unit="frames", file=sys.stdout, mininterval=2.0, **bar_size(sys.stdout))


def bar_size(stream) -> dict[str, int]:
    """The progress bar's size: tqdm's own choice (``{}``), except on a terminal that reports no size
    (0 columns, as some containers' terminals do), where tqdm would print a blank line: 80 x 24 then."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return {}  # not a terminal
    return {} if columns > 0 else {"ncols": 80, "nrows": 24}


def record_evaluation(last_eval: Mapping[str, Any], frames: int, updates: int, start: float,
                      evaluations: EvaluationCSV, logger, bar) -> dict[str, Any]:
    """An evaluation's row in ``eval.csv``, its ``eval/`` scalars and the progress bar's returns; returns the row."""
    row = {"frames": frames, "updates": updates, "wall_time": round(time.perf_counter() - start, 2), **last_eval}
    evaluations.append(row)
    log_scalars(logger, {f"eval/{k}": last_eval[k] for k in EVAL_LOGGED if k in last_eval}, frames)
    bar.set_postfix(dense=f"{last_eval['dense_return']:.1f}", sparse=f"{last_eval['sparse_return']:.1f}")
    return row


def checkpoint_due(cfg: DictConfig, progress: Progress, frames: int, done: bool) -> bool:
    """Whether a checkpoint is due now: by frames, at the end, or because the run guard asks (wall time,
    or a signal that asked the run to stop). The loop then schedules the next one and saves."""
    guard = run_guard.active()
    by_guard = guard is not None and guard.checkpoint_due()
    if not cfg.checkpoint.interval or not (frames >= progress.next_checkpoint or done or by_guard):
        return False
    if guard is not None:
        guard.checkpointed()
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
