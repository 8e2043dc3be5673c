"""The run directory, defined once: its file names, the evaluation columns, ``run.json`` and
``result.json``, and the progress counters a checkpoint carries.

The run writes these files, the studies decide from them what to skip or resume, and
:mod:`gild_torchrl.analysis` reads them; all three import the names from here. The module is
light (no torch) so that the analysis can import it cheaply.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

RUN_FILE = "run.json"  # what the run is: task, algorithm, setting, seed, budget, demonstrator's returns
EVAL_FILE = "eval.csv"  # one row per evaluation
RESULT_FILE = "result.json"  # written once the run has finished; its presence marks the run as done
TENSORBOARD_DIR = "tensorboard"  # TensorBoard's events (the default logger), which the analysis reads
LOGGER_DIRS = (TENSORBOARD_DIR, "csv_logs", "wandb", "mlflow")  # each logger backend's directory
CHECKPOINT_DIRS = ("checkpoint", "checkpoint.old")  # the newest complete checkpoint, and the previous one
DIAGNOSTICS_FILE = "diagnostics.csv"  # a study record's copy of the gild/ diagnostics, read when the events are gone
BEHAVIOUR_POLICY_FILE = "behaviour_policy.pt"  # the behaviour policy fitted once to the demonstrations (eval.behaviour_kl)
PROVENANCE_FILE = "provenance.jsonl"  # one line per launch: from which frame, on which code, libraries and CPU
RUN_CONFIG_FILE = ".hydra/config.yaml"  # the run's resolved config, written by the run (not by each launch)
LOCK_FILE = "run.lock"  # the OS lock a run holds while it writes the directory, and its pid
#: What a run writes into its directory; a new run refuses a directory holding any of them.
RUN_OUTPUTS = (EVAL_FILE, RUN_FILE, RESULT_FILE, DIAGNOSTICS_FILE, BEHAVIOUR_POLICY_FILE, *LOGGER_DIRS, PROVENANCE_FILE,
               *CHECKPOINT_DIRS, RUN_CONFIG_FILE)
#: ``eval.csv``'s columns; one a run does not measure (``demo_nll`` of a deterministic actor) stays empty.
EVAL_COLUMNS = ("frames", "updates", "wall_time", "dense_return", "sparse_return", "length", "x_final",
                "demo_action_mse", "demo_nll", "demo_kl")
#: The ``run.json`` fields.
RUN_FIELDS = ("task", "algorithm", "setting", "objective", "seed", "total_frames", "eval_interval",
              "demonstrator_dense_return", "demonstrator_sparse_return")


class RunDirError(ValueError):
    """A run directory that a new run may not write into."""


@dataclass
class Progress:
    """The loop's counters, saved in every checkpoint so that a resumed run continues them."""

    frames: int = 0  # collected so far
    updates: int = 0  # gradient updates so far
    rewarded: int = 0  # transitions with a non-zero reward collected so far
    first_reward_frame: int | None = None
    next_eval: int = 0  # frame count at which the next evaluation is due
    next_checkpoint: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # updates not applied to a group (non-finite gradient)
    wall_time: float = 0.0  # seconds trained by the launches up to the checkpoint

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> Progress:
        """Counters from a checkpoint; a field it predates takes its default."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in state.items() if k in known})


def claim_run_dir(run_dir: Path, overwrite: bool = False) -> None:
    """Stop before a new run mixes its files with another run's (appended eval rows, a second
    TensorBoard stream, an overwritten checkpoint); ``overwrite=true`` deletes that run's files first."""
    found = [name for name in RUN_OUTPUTS if (run_dir / name).exists()]
    if not found:
        return
    if not overwrite:
        raise RunDirError(f"run_dir={str(run_dir)!r} holds another run's files ({', '.join(found)}); continue it with "
                          f"resume={run_dir}, give another run_dir, or pass overwrite=true to replace it.")
    remove_outputs(run_dir, found)


def remove_outputs(run_dir: Path, names: tuple[str, ...] | list[str] = RUN_OUTPUTS) -> None:
    """Delete those of a run's outputs that exist."""
    for name in names:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


class EvaluationCSV:
    """``eval.csv`` beside the logger's events: one row per evaluation, appended as it happens."""

    columns = EVAL_COLUMNS

    def __init__(self, path: Path, keep_until: int | None = None) -> None:
        """``keep_until``: a resumed run keeps the rows up to its checkpoint's frame count."""
        self.path = path
        rows = []
        if keep_until is not None and path.is_file():
            with path.open(newline="") as f:
                rows = [row for row in csv.DictReader(f) if int(row["frames"]) <= keep_until]
        if keep_until is not None or not path.is_file():
            with path.open("w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(self.columns)
                writer.writerows([row.get(c, "") for c in self.columns] for row in rows)

    def append(self, row: Mapping[str, float]) -> None:
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerow([row.get(c, "") for c in self.columns])


def write_run_info(run_dir: Path, info: Mapping[str, Any]) -> None:
    """``run.json``: what the run is (:data:`RUN_FIELDS`), for the studies and the analysis."""
    missing = [name for name in RUN_FIELDS if name not in info]
    if missing:
        raise KeyError(f"run.json needs {missing}")
    (run_dir / RUN_FILE).write_text(json.dumps({name: info[name] for name in RUN_FIELDS}, indent=1))


def read_run_info(run_dir: Path) -> dict[str, Any]:
    """``run.json`` of a run directory, or ``{}`` when it has none or it cannot be read."""
    try:
        return json.loads((run_dir / RUN_FILE).read_text())
    except (OSError, ValueError):
        return {}


def write_result(run_dir: Path, result: Mapping[str, Any]) -> None:
    """``result.json``: the run's last evaluation and totals, written once it has finished (studies skip such runs)."""
    tmp = run_dir / f"{RESULT_FILE}.tmp"
    tmp.write_text(json.dumps(dict(result), indent=1, default=float))
    tmp.rename(run_dir / RESULT_FILE)
