"""A recipe's body: the run of the configured algorithm's kind, continued from a checkpoint with
``resume=``, and the errors a user can fix as one sentence and exit code 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from gild_torchrl.algorithms import get_algorithm
from gild_torchrl.data import DemonstrationError
from gild_torchrl.training import off_policy, on_policy
from gild_torchrl.training import checkpoint as checkpoints
from gild_torchrl.training.config import ConfigError, command_line_keys
from gild_torchrl.training.provenance import read_run_config
from gild_torchrl.training.run_dir import RESULT_FILE, RUN_CONFIG_FILE, RunDirError
from gild_torchrl.training.session import EvaluationHook


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


#: The run of each kind of base algorithm (``Algorithm.kind``).
TRAINERS: dict[str, Callable[..., dict[str, Any]]] = {"off_policy": off_policy.train, "on_policy": on_policy.train}


def trainer(cfg: DictConfig) -> Callable[..., dict[str, Any]]:
    """The run of ``cfg.algorithm``'s kind: :func:`~gild_torchrl.training.off_policy.train` or
    :func:`~gild_torchrl.training.on_policy.train` (TRPO and LOGO)."""
    try:
        return TRAINERS[get_algorithm(cfg.algorithm).kind]
    except ValueError as err:
        raise ConfigError(str(err)) from None


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
