"""Reading a study directory (or any directory of recipe runs) into runs with their evaluation curves.

A run is a directory holding the recipe's ``run.json`` (task, algorithm, setting, seed, budget,
the demonstrator's returns) and ``eval.csv`` (one row per evaluation); ``result.json`` marks it
finished. A Hydra study directory also holds ``multirun.yaml``, from which the runs the study
should have are recomputed, so that runs never started, still running or crashed are reported.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from gild_torchrl.training.grid import LAUNCHES_FILE, launch_runs, run_id
from gild_torchrl.training.run_dir import DIAGNOSTICS_FILE, EVAL_FILE, RESULT_FILE, RUN_FILE, TENSORBOARD_DIR  # the files a run writes


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
    objective: str | None = None  # loss.objective: "rl" trains without demonstrations
    _events: dict | None = field(default=None, repr=False)
    _result: dict = field(default_factory=dict, repr=False)
    _until: int | None = field(default=None, repr=False)  # frames past which the run is not read (see until)

    @property
    def wall_time(self) -> float:
        """Seconds the finished run trained, over all its launches (resumes and extensions); nan if unfinished."""
        return float(self._result.get("total_wall_time", self._result.get("wall_time", float("nan"))))

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
        if "first_reward_frame" in self._result:
            value = self._result["first_reward_frame"]
            return float("nan") if value is None else float(value)
        _, values = self.scalars("gild/frames_to_first_reward")
        return float(values[0]) if values.size else float("nan")

    def until(self, frames: int) -> Run:
        """The run as it stood at ``frames``, read as a run of that budget.

        A run's first frames do not depend on its budget (``tests/test_exact_resume.py``), so a
        longer run cut at ``frames`` is the shorter run: it is finished when it got there, its wall
        time is that of its launches up to the cut (summed from ``eval.csv``), its later rows and
        TensorBoard scalars are dropped.
        """
        if self.total_frames <= frames:
            return self
        keep = self.frames <= frames
        evals = {name: values[keep] for name, values in self.evals.items()}
        reached = bool(keep.any()) and evals["frames"][-1] >= frames
        result = {}
        if reached:
            first = self.first_reward_frame
            result = {"total_wall_time": launches_wall_time(evals.get("wall_time", np.zeros(0))),
                      "first_reward_frame": first if first <= frames else None}
        return replace(self, total_frames=frames, finished=reached, evals=evals, _result=result, _until=frames)

    def scalars(self, tag: str) -> tuple[np.ndarray, np.ndarray]:
        """A TensorBoard scalar the run logged (e.g. ``gild/meta_grad_norm``): (frames, values); empty if none.

        Read from the run's events, or, for a run restored from a study's record (no events), from
        its ``diagnostics.csv`` (:mod:`gild_torchrl.analysis.record`).
        """
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        if self._events is None:
            self._events = {}
            directory = self.path / TENSORBOARD_DIR
            if directory.is_dir():
                accumulator = EventAccumulator(str(directory), size_guidance={"scalars": 0})
                # A resumed run's new events file starts again at its checkpoint's step: TensorBoard
                # drops what the killed launch logged after that checkpoint (it was run again), as it
                # should, and warns once per file as if TensorFlow had restarted; that warning is noise here.
                tensorboard_log = logging.getLogger("tensorboard")
                level = tensorboard_log.level
                tensorboard_log.setLevel(logging.ERROR)
                try:
                    accumulator.Reload()
                finally:
                    tensorboard_log.setLevel(level)
                for name in accumulator.Tags()["scalars"]:
                    events = accumulator.Scalars(name)
                    self._events[name] = (np.array([e.step for e in events], dtype=float),
                                          np.array([e.value for e in events], dtype=float))
            elif (self.path / DIAGNOSTICS_FILE).is_file():
                self._events = read_diagnostics_csv(self.path / DIAGNOSTICS_FILE)
        steps, values = self._events.get(tag, (np.zeros(0), np.zeros(0)))
        if self._until is not None:
            keep = steps <= self._until
            steps, values = steps[keep], values[keep]
        return steps, values


def launches_wall_time(wall_time: np.ndarray) -> float:
    """Seconds trained over all launches from ``eval.csv``'s ``wall_time`` (each launch counts from
    zero, so a drop starts a new launch); nan without the column."""
    if not wall_time.size:
        return float("nan")
    restarts = np.flatnonzero(np.diff(wall_time) < 0)
    return float(wall_time[restarts].sum() + wall_time[-1])


@dataclass
class Study:
    """The runs found under a directory, and what is missing from the study's grid."""

    root: Path
    runs: list[Run]
    expected: list[str] = field(default_factory=list)   # run ids of the study's grid (empty if unknown)
    unreadable: list[str] = field(default_factory=list)  # run directories whose files could not be read
    notes: list[str] = field(default_factory=list)  # other problems met while reading the study

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
        running = [r for r in self.unfinished if r not in self.missing and r in {run.id for run in self.runs if run.frames.size}]
        if running:
            notes.append(f"{len(running)} runs are not finished (still running or crashed) and are left out of "
                         f"the scores of groups that have finished runs: {', '.join(running)}")
        ids = [run.id for run in self.runs]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            notes.append(f"the same run appears in several directories (two studies under one folder?) and is "
                         f"counted once per directory: {', '.join(duplicates)}")
        if self.unreadable:
            notes.append(f"{len(self.unreadable)} run directories could not be read: {'; '.join(self.unreadable)}")
        return notes + self.notes


def read_eval_csv(path: Path) -> dict[str, np.ndarray]:
    """``eval.csv`` as float columns (empty cells -> nan).

    A row cut short (a run killed while writing it) or out of order is dropped: frames must increase.
    """
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        names = reader.fieldnames or []
        if "frames" not in names:
            raise ValueError(f"{path} has no 'frames' column (columns: {names})")
        rows, last = [], -math.inf
        for row in reader:
            if None in row or any(row.get(name) is None for name in names):
                continue  # fewer or more fields than the header
            try:
                values = {name: float(row[name]) if row[name] != "" else math.nan for name in names}
            except ValueError:
                continue
            if values["frames"] > last:
                rows.append(values)
                last = values["frames"]
    return {name: np.array([row[name] for row in rows]) for name in names} if rows else {}


def read_diagnostics_csv(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A record's ``diagnostics.csv`` (tag, frames, value) as ``{tag: (frames, values)}``."""
    points: dict[str, list[tuple[float, float]]] = {}
    with path.open(newline="") as f:
        for number, row in enumerate(csv.DictReader(f), 2):
            try:
                points.setdefault(row["tag"], []).append((float(row["frames"]), float(row["value"])))
            except (KeyError, TypeError, ValueError) as err:
                raise ValueError(f"{path} line {number} is not a diagnostics row (tag, frames, value): {err}") from None
    return {tag: (np.array([p[0] for p in rows]), np.array([p[1] for p in rows])) for tag, rows in points.items()}


def read_run(run_dir: Path) -> Run:
    """One run directory; ``ValueError`` naming the file when ``run.json`` or ``result.json`` is malformed."""
    try:
        info = json.loads((run_dir / RUN_FILE).read_text())
        run = Run(
            path=run_dir,
            task=str(info["task"]),
            algorithm=str(info["algorithm"]),
            setting=str(info["setting"]),
            seed=int(info["seed"]),
            total_frames=int(info["total_frames"]),
            finished=False,
            evals={},
            demonstrator_dense_return=info.get("demonstrator_dense_return"),
            demonstrator_sparse_return=info.get("demonstrator_sparse_return"),
            objective=info.get("objective"),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"{run_dir / RUN_FILE} is not a run description ({type(err).__name__}: {err})") from None
    result = run_dir / RESULT_FILE
    if result.is_file():
        try:
            run._result = dict(json.loads(result.read_text()))
        except (ValueError, TypeError) as err:
            raise ValueError(f"{result} is not a run result ({type(err).__name__}: {err})") from None
        run.finished = True
    eval_csv = run_dir / EVAL_FILE
    run.evals = read_eval_csv(eval_csv) if eval_csv.is_file() else {}
    return run


def expected_runs(root: Path) -> tuple[list[str], list[str]]:
    """The run ids a Hydra study should hold, and notes on what could not be read.

    Every launch recorded in ``launches.jsonl`` counts (a study may be launched several times);
    a study launched without that record falls back to its last ``multirun.yaml``.
    """
    from omegaconf import OmegaConf

    runs, notes = set(), []
    launches = root / LAUNCHES_FILE
    if launches.is_file():
        for number, line in enumerate(launches.read_text().splitlines(), 1):
            try:
                runs.update(json.loads(line)["runs"])
            except (ValueError, KeyError, TypeError) as err:
                notes.append(f"{launches} line {number} is not a launch record ({type(err).__name__}: {err})")
    elif (root / "multirun.yaml").is_file():
        try:
            runs.update(launch_runs(OmegaConf.load(root / "multirun.yaml")))
        except Exception as err:  # a malformed file must not stop the analysis of the runs that exist
            notes.append(f"{root / 'multirun.yaml'} could not be read, so missing runs are not reported ({type(err).__name__}: {err})")
    return sorted(runs), notes


def load_study(root: str | Path) -> Study:
    """Every run under ``root`` (any depth), and the study's expected grid when ``root`` is a Hydra study."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such directory (expected a study or runs directory)")
    runs, unreadable = [], []
    for info in sorted(root.rglob(RUN_FILE)):
        if "checkpoint" in info.parts[len(root.parts):]:
            continue
        try:
            runs.append(read_run(info.parent))
        except (OSError, ValueError) as err:
            unreadable.append(str(err))
    expected, notes = expected_runs(root)
    return Study(root=root, runs=runs, expected=expected, unreadable=unreadable, notes=notes)
