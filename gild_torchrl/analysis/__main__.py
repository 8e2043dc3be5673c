"""``python -m gild_torchrl.analysis STUDY_DIR``: figures and tables of a study, and what it is missing."""

from __future__ import annotations

import argparse
import shlex
import sys
import warnings
from pathlib import Path

from gild_torchrl.analysis import cells
from gild_torchrl.analysis.figures import (
    plot_aggregates,
    plot_by_demonstrations,
    plot_diagnostics,
    plot_divergence,
    plot_grid,
    plot_learning_curves,
)
from gild_torchrl.analysis.runs import load_study
from gild_torchrl.analysis import warm_start
from gild_torchrl.analysis.table import markdown, results_rows, write_csv, write_rows


class StudyWarning(UserWarning):
    """A study is incomplete: some of its runs are missing or unfinished."""


#: What ``main`` writes beside the tables: the command that made them, so that they can be made again.
COMMAND_FILE = "command.txt"


def study_table(study_dir: str | Path, reps: int = 2000, seed: int = 0, at_frames: list[int] | None = None,
                until: int | None = None, also: list[str | Path] = (), also_settings: list[str] | None = None) -> dict:
    """The text of ``results.md`` for a study, with the runs and rows it was made from; writes nothing.

    Partial studies are aggregated as they are, with a :class:`StudyWarning` naming the missing
    and unfinished runs. ``until``: every run read as a run of that many frames (``Run.until``).
    ``also``: other studies whose runs join this one's where they share its task, algorithm and
    seeds (``also_settings``: only those settings), so that runs are not made twice.
    """
    study = load_study(study_dir)
    study.runs += borrowed_runs(study.runs, also, also_settings)
    if until is not None:
        study.runs = [run.until(until) for run in study.runs]
    if not any(run.frames.size for run in study.runs):
        why = f" ({'; '.join(study.unreadable)})" if study.unreadable else ""
        raise ValueError(f"{study_dir}: no run with an evaluation yet (expected run.json and eval.csv under it){why}.")
    notes = study.warnings()
    for note in notes:
        warnings.warn(note, StudyWarning, stacklevel=2)
    rows = results_rows(study.runs, reps=reps, seed=seed, at_frames=at_frames)
    table = markdown(rows, at_frames=at_frames)
    cpu_hours = sum(row["cpu_hours"] for row in rows)
    table += f"\nTotal CPU time of the finished runs: {cpu_hours:,.1f} hours (sum of their training wall times).\n"
    if notes:
        table += "\n" + "\n".join(f"Note: {note}." for note in notes) + "\n"
    warm_start_rows = warm_start.warm_start_rows(study.runs)
    if warm_start_rows:
        table += "\nGILD's warm start, run by run (from the `gild/` diagnostics):\n\n" + warm_start.markdown(warm_start_rows)
    return {"study": study, "rows": rows, "warm_start_rows": warm_start_rows, "table": table, "warnings": notes}


def analyse(study_dir: str | Path, out_dir: str | Path | None = None, reps: int = 2000, seed: int = 0,
            at_frames: list[int] | None = None, until: int | None = None, also: list[str | Path] = (),
            also_settings: list[str] | None = None) -> dict:
    """Write ``learning_curves``/``divergence``/``diagnostics`` (PNG, SVG) and ``results.md``/``results.csv``
    (and ``warm_start.csv``, also in ``results.md``, when runs logged a GILD warm start): :func:`study_table`'s
    text and the figures of the same runs, and the report across cells (:func:`grid_report`). Returns the
    rows, the written paths and the warnings.
    """
    result = study_table(study_dir, reps=reps, seed=seed, at_frames=at_frames, until=until, also=also,
                         also_settings=also_settings)
    study = result.pop("study")
    runs, rows, warm_start_rows = study.runs, result["rows"], result["warm_start_rows"]
    out_dir = Path(out_dir) if out_dir is not None else study.root / "analysis"
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out_dir / "results.csv", at_frames=at_frames)
    paths = [out_dir / "results.md", out_dir / "results.csv"]
    if warm_start_rows:
        write_rows(warm_start_rows, out_dir / "warm_start.csv", warm_start.COLUMNS)
        paths.append(out_dir / "warm_start.csv")
    (out_dir / "results.md").write_text(result["table"])
    grid = grid_report(runs, out_dir, reps=reps, seed=seed)
    paths += grid.pop("paths")
    paths += plot_learning_curves(runs, out_dir, reps=reps, seed=seed)
    paths += plot_by_demonstrations(runs, out_dir, reps=reps, seed=seed)
    paths += plot_divergence(runs, out_dir)
    paths += plot_diagnostics(runs, out_dir)
    return {**result, "paths": paths, **grid}


def grid_report(runs: list, out_dir: Path, reps: int = 2000, seed: int = 0) -> dict:
    """``grid.md`` and its CSVs (``grid_cells``, ``grid_aggregates``, ``grid_gild_comparisons``, ``census``),
    ``grid_sparse``/``grid_dense`` and ``aggregates`` figures (:mod:`gild_torchrl.analysis.cells`).

    The scores need the demonstrator's sparse return (``run.json``): without it only the census is written.
    """
    census = cells.census_rows(runs)
    scored = any(run.demonstrator_sparse_return for run in runs)
    cell_rows = cells.cell_rows(runs) if scored else []
    aggregates = cells.aggregate_rows(runs, reps=reps, seed=seed) if scored else []
    comparisons = cells.comparison_rows(runs, reps=reps, seed=seed) if scored else []
    paths = []
    for name, rows, columns in (("grid_cells", cell_rows, cells.CELL_COLUMNS), ("grid_aggregates", aggregates, cells.AGGREGATE_COLUMNS),
                                ("grid_gild_comparisons", comparisons, cells.COMPARISON_COLUMNS),
                                ("census", census, cells.CENSUS_COLUMNS)):
        if rows:
            write_rows(rows, out_dir / f"{name}.csv", columns)
            paths.append(out_dir / f"{name}.csv")
    if cell_rows or census:
        (out_dir / "grid.md").write_text(cells.markdown(cell_rows, aggregates, comparisons, census))
        paths.append(out_dir / "grid.md")
    if cell_rows:
        paths += plot_grid(runs, out_dir, "sparse_return") + plot_grid(runs, out_dir, "dense_return")
        paths += plot_aggregates(aggregates, comparisons, out_dir)
    return {"cell_rows": cell_rows, "aggregate_rows": aggregates, "comparison_rows": comparisons, "census_rows": census,
            "paths": paths}


def borrowed_runs(runs: list, others: list[str | Path], settings: list[str] | None) -> list:
    """The runs of the ``others`` studies on the tasks, algorithms and seeds of ``runs``, in settings
    that ``runs`` has not (``settings``: only those)."""
    tasks = {(run.task, run.algorithm) for run in runs}
    seeds = {run.seed for run in runs}
    own = {run.setting for run in runs}
    borrowed = []
    for other in others:
        for run in load_study(other).runs:
            wanted = run.setting not in own and (not settings or run.setting in settings)
            if wanted and (run.task, run.algorithm) in tasks and run.seed in seeds:
                borrowed.append(run)
    return borrowed


def parser() -> argparse.ArgumentParser:
    """The command line, also read back from a ``command.txt`` to make a study's tables again."""
    parser = argparse.ArgumentParser(prog="python -m gild_torchrl.analysis", description=__doc__)
    parser.add_argument("study_dir", help="a study directory (recipes/study.py) or any directory of recipe runs")
    parser.add_argument("--out", default=None, help="where to write figures and tables (default: STUDY_DIR/analysis)")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap replications (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--at", default="", help="comma-separated frame counts: add the returns there to the table (e.g. 25000,50000)")
    parser.add_argument("--until", type=int, default=None, help="read every run as a run of this many frames (its curve cut there)")
    parser.add_argument("--also", action="append", default=[], metavar="DIR",
                        help="another study whose runs on the same task, algorithm and seeds join this one's (repeatable)")
    parser.add_argument("--also-settings", default="", help="comma-separated: only these settings of the --also studies")
    return parser


def table_options(args: argparse.Namespace) -> dict:
    """:func:`study_table`'s keyword arguments from the parsed command line; a bad value raises ValueError."""
    try:
        at_frames = [int(f) for f in args.at.split(",") if f.strip()]
    except ValueError:
        raise ValueError(f"--at={args.at!r}; expected comma-separated frame counts such as 25000,50000") from None
    if args.until is not None and args.until <= 0:
        raise ValueError(f"--until={args.until}; expected a positive frame count such as 100000")
    also_settings = [s.strip() for s in args.also_settings.split(",") if s.strip()] or None
    return {"reps": args.reps, "seed": args.seed, "at_frames": at_frames, "until": args.until, "also": args.also,
            "also_settings": also_settings}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    try:
        options = table_options(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StudyWarning)  # printed below, once
            result = analyse(args.study_dir, args.out, **options)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out_dir = result["paths"][0].parent  # where results.md went
    (out_dir / COMMAND_FILE).write_text(shlex.join(["python", "-m", "gild_torchrl.analysis", *argv]) + "\n")
    print(result["table"])
    for note in result["warnings"]:
        print(f"warning: {note}", file=sys.stderr)
    print("wrote " + ", ".join(str(p) for p in [*result["paths"], out_dir / COMMAND_FILE]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
