"""Reading a study directory (or any directory of recipe runs) into runs with their evaluation curves.

A run is a directory holding the recipe's ``run.json`` (task, algorithm, setting, seed, budget,
the demonstrator's returns) and ``eval.csv`` (one row per evaluation); ``result.json`` marks it
finished. A Hydra study directory also holds ``multirun.yaml``, from which the runs the study
should have are recomputed, so that runs never started, still running or crashed are reported.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gild_torchrl.analysis.grid import RUN_KEYS, run_id, study_runs


@dataclass
class Run:
    """One run's identity and evaluation curve (columns of ``eval.csv`` as float arrays)."""

    path: Path
    task: str
    algorithm: str
    setting: str
    seed: int
    total_frames: int
    finished: bool
    evals: dict[str, np.ndarray]
    demonstrator_dense_return: float | None = None
    demonstrator_sparse_return: float | None = None
    _events: dict | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return run_id({"env.name": self.task, "algorithm": self.algorithm, "setting": self.setting, "seed": self.seed})

    @property
    def frames(self) -> np.ndarray:
        return self.evals.get("frames", np.zeros(0))

    def column(self, name: str) -> np.ndarray:
        """An ``eval.csv`` column; all-nan when the run does not record it (``demo_nll`` of TD3)."""
        return self.evals.get(name, np.full(self.frames.shape, np.nan))

    def value_at(self, name: str, frames: int) -> float:
        """The column's value at the last evaluation at or before ``frames``; nan if none yet or the run ended earlier."""
        if not self.frames.size or self.frames[-1] < frames:
            return float("nan")
        index = np.searchsorted(self.frames, frames, side="right") - 1
        return float(self.column(name)[index]) if index >= 0 else float("nan")

    @property
    def first_reward_frame(self) -> float:
        """Frames collected when the first rewarded transition entered the replay buffer; nan if none yet.

        From ``result.json`` for a finished run, else from the TensorBoard tag the recipe logs.
        """
        if self.finished:
            result = json.loads((self.path / "result.json").read_text())
            if "first_reward_frame" in result:
                value = result["first_reward_frame"]
                return float("nan") if value is None else float(value)
        _, values = self.scalars("gild/frames_to_first_reward")
        return float(values[0]) if values.size else float("nan")

    def scalars(self, tag: str) -> tuple[np.ndarray, np.ndarray]:
        """A TensorBoard scalar the run logged (e.g. ``gild/meta_grad_norm``): (frames, values); empty if none."""
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        if self._events is None:
            self._events = {}
            directory = self.path / "tensorboard"
            if directory.is_dir():
                accumulator = EventAccumulator(str(directory), size_guidance={"scalars": 0})
                accumulator.Reload()
                for name in accumulator.Tags()["scalars"]:
                    events = accumulator.Scalars(name)
                    self._events[name] = (np.array([e.step for e in events], dtype=float),
                                          np.array([e.value for e in events], dtype=float))
        return self._events.get(tag, (np.zeros(0), np.zeros(0)))


@dataclass
class Study:
    """The runs found under a directory, and what is missing from the study's grid."""

    root: Path
    runs: list[Run]
    expected: list[str] = field(default_factory=list)   # run ids of the study's grid (empty if unknown)
    unreadable: list[str] = field(default_factory=list)  # run directories whose files could not be read

    @property
    def unfinished(self) -> list[str]:
        """Runs with a directory but no ``result.json``: still running, or crashed."""
        return sorted(run.id for run in self.runs if not run.finished)

    @property
    def missing(self) -> list[str]:
        """Runs of the grid with no evaluation yet (not started, or died before the first one)."""
        present = {run.id for run in self.runs if run.frames.size}
        return sorted(set(self.expected) - present)

    def warnings(self) -> list[str]:
        """One sentence per kind of gap, naming the runs."""
        notes = []
        if self.missing:
            notes.append(f"{len(self.missing)} of {len(self.expected)} runs of the study have no evaluation yet: {', '.join(self.missing)}")
        running = [r for r in self.unfinished if r not in self.missing]
        if running:
            notes.append(f"{len(running)} runs are not finished (still running or crashed); their curves end early: {', '.join(running)}")
        if self.unreadable:
            notes.append(f"{len(self.unreadable)} run directories could not be read: {', '.join(self.unreadable)}")
        return notes


def read_eval_csv(path: Path) -> dict[str, np.ndarray]:
    """``eval.csv`` as float columns (empty cells -> nan)."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    return {name: np.array([float(row[name]) if row.get(name) not in (None, "") else math.nan for row in rows])
            for name in rows[0]}


def read_run(run_dir: Path) -> Run:
    info = json.loads((run_dir / "run.json").read_text())
    eval_csv = run_dir / "eval.csv"
    evals = read_eval_csv(eval_csv) if eval_csv.is_file() else {}
    return Run(
        path=run_dir,
        task=info["task"],
        algorithm=info["algorithm"],
        setting=info["setting"],
        seed=int(info["seed"]),
        total_frames=int(info["total_frames"]),
        finished=(run_dir / "result.json").is_file(),
        evals=evals,
        demonstrator_dense_return=info.get("demonstrator_dense_return"),
        demonstrator_sparse_return=info.get("demonstrator_sparse_return"),
    )


def expected_runs(root: Path) -> list[str]:
    """The run ids a Hydra study should hold, from its ``multirun.yaml`` (empty when there is none)."""
    path = root / "multirun.yaml"
    if not path.is_file():
        return []
    from omegaconf import OmegaConf

    saved = OmegaConf.load(path)
    params = OmegaConf.to_container(saved.hydra.sweeper.params or {}, resolve=False)
    command_line = [o for o in saved.hydra.overrides.task if o.split("=", 1)[0].lstrip("+~") in RUN_KEYS]
    sweep = [f"{key}={value}" for key, value in params.items()] + list(command_line)
    defaults = {key: OmegaConf.select(saved, key, default=None) for key in RUN_KEYS if key != "setting"}
    defaults["setting"] = OmegaConf.select(saved, "hydra.runtime.choices.setting", default=None)
    cells = OmegaConf.to_container(saved.study.cells, resolve=True) if OmegaConf.select(saved, "study.cells") else []
    return study_runs(sweep, defaults, cells)


def load_study(root: str | Path) -> Study:
    """Every run under ``root`` (any depth), and the study's expected grid when ``root`` is a Hydra study."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such directory (expected a study or runs directory)")
    runs, unreadable = [], []
    for info in sorted(root.rglob("run.json")):
        if "checkpoint" in info.parts[len(root.parts):]:
            continue
        try:
            runs.append(read_run(info.parent))
        except (OSError, ValueError, KeyError) as err:
            unreadable.append(f"{info.parent} ({type(err).__name__}: {err})")
    return Study(root=root, runs=runs, expected=expected_runs(root), unreadable=unreadable)
