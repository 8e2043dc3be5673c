"""A study's record: what its finished runs need to be analysed again, small enough to commit.

A study directory lives on one machine's disk, with checkpoints, replay buffers and TensorBoard
events that a new machine does not have. The record keeps, for each finished run, ``run.json``,
``eval.csv``, ``result.json``, ``provenance.jsonl`` (what each launch ran on) and the ``gild/``
diagnostics that the figures draw (``diagnostics.csv``: tag, frames, value), in ``RECORD/<task>_<algorithm>_<setting>_seed<seed>/``.
``restore`` lays a record back out as a study directory, so that the study relaunched on a new
machine skips the recorded runs and the analysis draws the same curves, tables and diagnostics::

    python -m gild_torchrl.analysis.record save studies/long_hopper docs/studies/long_hopper
    python -m gild_torchrl.analysis.record restore docs/studies/long_hopper studies/long_hopper

Checkpoints are not recorded: a run that was still going when its machine was lost starts again.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
from pathlib import Path

import numpy as np

from gild_torchrl.analysis.figures import DIAGNOSTICS
from gild_torchrl.analysis.runs import Run, load_study, read_run
from gild_torchrl.training.run_dir import DIAGNOSTICS_FILE, EVAL_FILE, PROVENANCE_FILE, RESULT_FILE, RUN_FILE

#: The ``gild/`` scalars a record keeps: those the diagnostics figure draws.
RECORDED_TAGS = tuple(tag for tag, _, _ in DIAGNOSTICS)
#: A tag logged more often (``gild/rewarded_transitions``, once per collector batch) is thinned to
#: this many evenly spaced points, its first and last kept: finer than a figure's pixels.
MAX_POINTS = 5000


def record_name(run: Run) -> str:
    """A run's directory in a record: ``<task>_<algorithm>_<setting>_seed<seed>``."""
    return f"{run.task}_{run.algorithm}_{run.setting}_seed{run.seed}"


def thin(steps: np.ndarray, values: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` evenly spaced points of a curve, its first and last among them."""
    if steps.size <= max_points:
        return steps, values
    keep = np.unique(np.linspace(0, steps.size - 1, max_points).round().astype(int))
    return steps[keep], values[keep]


def write_diagnostics(run: Run, path: Path) -> int:
    """``diagnostics.csv`` of a run from its events (or its own record); returns the rows written.

    A run without any (an older record, its events lost) gets no file.
    """
    rows = [(tag, int(step), repr(float(value))) for tag in RECORDED_TAGS for step, value in zip(*thin(*run.scalars(tag)))]
    if rows:
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(("tag", "frames", "value"))
            writer.writerows(rows)
    return len(rows)


def save(study_dir: str | Path, record_dir: str | Path) -> list[Path]:
    """Record every finished run under ``study_dir`` into ``record_dir``; returns the run records written.

    A run recorded earlier is written again (an extended run replaces its shorter record).
    """
    study = load_study(study_dir)
    if study.unreadable:
        raise ValueError(f"{study_dir}: {'; '.join(study.unreadable)}")
    written = []
    for run in sorted((r for r in study.runs if r.finished), key=record_name):
        dest = Path(record_dir) / record_name(run)
        dest.mkdir(parents=True, exist_ok=True)
        for name in (RUN_FILE, EVAL_FILE, RESULT_FILE):
            shutil.copyfile(run.path / name, dest / name)
        if (run.path / PROVENANCE_FILE).is_file():  # runs launched before launches were recorded have none
            shutil.copyfile(run.path / PROVENANCE_FILE, dest / PROVENANCE_FILE)
        write_diagnostics(run, dest / DIAGNOSTICS_FILE)
        written.append(dest)
    return written


def restore(record_dir: str | Path, study_dir: str | Path) -> tuple[list[Path], list[Path]]:
    """Lay the recorded runs out as ``study_dir/<task>/<algorithm>/<setting>/seed<seed>/``.

    A run the study directory already holds (a ``run.json`` there) is left as it is. Returns the
    run directories restored and those left alone.
    """
    record_dir = Path(record_dir)
    if not record_dir.is_dir():
        raise FileNotFoundError(f"{record_dir}: no such directory (expected a study's record)")
    restored, kept = [], []
    for info in sorted(record_dir.glob(f"*/{RUN_FILE}")):
        run = read_run(info.parent)
        if not run.finished:
            raise ValueError(f"{info.parent} has no {RESULT_FILE}: a record holds finished runs only")
        dest = Path(study_dir) / run.id
        if (dest / RUN_FILE).exists():
            kept.append(dest)
            continue
        dest.mkdir(parents=True, exist_ok=True)
        for name in (RUN_FILE, EVAL_FILE, RESULT_FILE, DIAGNOSTICS_FILE, PROVENANCE_FILE):
            if (info.parent / name).is_file():
                shutil.copyfile(info.parent / name, dest / name)
        restored.append(dest)
    if not restored and not kept:
        raise ValueError(f"{record_dir}: no recorded run (expected <run>/{RUN_FILE} under it)")
    return restored, kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gild_torchrl.analysis.record", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True)
    save_parser = verbs.add_parser("save", help="record a study's finished runs")
    save_parser.add_argument("study_dir")
    save_parser.add_argument("record_dir")
    restore_parser = verbs.add_parser("restore", help="lay a record out as a study directory")
    restore_parser.add_argument("record_dir")
    restore_parser.add_argument("study_dir")
    args = parser.parse_args(argv)
    try:
        if args.verb == "save":
            written = save(args.study_dir, args.record_dir)
            print(f"recorded {len(written)} finished runs in {args.record_dir}")
        else:
            restored, kept = restore(args.record_dir, args.study_dir)
            print(f"restored {len(restored)} runs into {args.study_dir}"
                  + (f"; {len(kept)} were there already, left as they were" if kept else ""))
    except (FileNotFoundError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
