"""The results table: one row per task x algorithm x setting, aggregated over seeds."""

from __future__ import annotations

import csv
import math
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from gild_torchrl.analysis.metrics import (
    final_return,
    first_frame_above,
    frames_to_first_sparse_reward,
    iqm_interval,
    normalised_auc,
)
from gild_torchrl.analysis.runs import Run

#: Settings in the order the paper and the ablation list them; others follow alphabetically.
SETTING_ORDER = ("rl", "il", "il_warm_start", "meta_critic", "gild", "gild_bc_first_reward")

COLUMNS = (
    "task", "algorithm", "setting", "runs", "finished", "frames",
    "final_dense_mean", "final_dense_iqm", "final_dense_iqm_low", "final_dense_iqm_high",
    "final_sparse_mean", "final_sparse_iqm", "final_sparse_iqm_low", "final_sparse_iqm_high",
    "auc_dense", "auc_sparse",
    "first_sparse_frames_median", "runs_with_sparse_reward",
    "first_training_reward_frames_median", "runs_with_training_reward",
    "demonstrator_dense_return", "frames_to_demonstrator_median", "runs_reaching_demonstrator",
    "runs_final_above_demonstrator", "cpu_hours",
)


def setting_key(setting: str) -> tuple[int, list]:
    """``SETTING_ORDER`` first, then the others with their numbers in numeric order (``gild_ws5k`` before ``gild_ws20k``)."""
    rank = SETTING_ORDER.index(setting) if setting in SETTING_ORDER else len(SETTING_ORDER)
    return rank, [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", setting)]


def group_runs(runs: list[Run]) -> dict[tuple[str, str, str], list[Run]]:
    """Runs with at least one evaluation, by (task, algorithm, setting), in a stable order."""
    groups: dict[tuple[str, str, str], list[Run]] = defaultdict(list)
    for run in runs:
        if run.frames.size:
            groups[(run.task, run.algorithm, run.setting)].append(run)
    order = sorted(groups, key=lambda k: (k[0], k[1], setting_key(k[2])))
    return {key: sorted(groups[key], key=lambda r: r.seed) for key in order}


def scored_runs(group: list[Run]) -> list[Run]:
    """The runs a group's scores use: its finished runs when it has any (a run still going would mix
    an early return into a final one), else all of them."""
    finished = [r for r in group if r.finished]
    return finished or group


def _median_reached(values: list[float]) -> float:
    reached = [v for v in values if not math.isnan(v)]
    return float(np.median(reached)) if reached else float("nan")


def at_frames_columns(at_frames: list[int]) -> list[str]:
    return [f"{kind}_at_{frames}" for frames in at_frames for kind in ("dense", "sparse")]


def results_rows(runs: list[Run], reps: int = 2000, seed: int = 0, at_frames: list[int] | None = None) -> list[dict]:
    """The table's rows (see ``COLUMNS``): final returns (mean of the last 3 evaluations) with their
    IQM and 95% stratified-bootstrap CI, normalised AUC, frames to the first sparse reward and to
    the demonstrator's dense return (medians over the runs that reached them, and how many did).

    ``at_frames``: also the mean dense and sparse evaluation return at those frame counts
    (``dense_at_25000``: each run's last evaluation at or before 25,000 frames; nan when a scored
    run has not reached that many frames). Scores use the group's finished runs when it has any.
    """
    rows = []
    for (task, algorithm, setting), runs_of_group in group_runs(runs).items():
        group = scored_runs(runs_of_group)
        final_dense = np.array([final_return(r.column("dense_return")) for r in group])
        final_sparse = np.array([final_return(r.column("sparse_return")) for r in group])
        first_sparse = [frames_to_first_sparse_reward(r.frames, r.column("sparse_return")) for r in group]
        first_training = [r.first_reward_frame for r in group]
        demonstrator = next((r.demonstrator_dense_return for r in group if r.demonstrator_dense_return is not None), None)
        to_demo = [first_frame_above(r.frames, r.column("dense_return"), demonstrator) for r in group] if demonstrator is not None else []
        dense_iqm = iqm_interval(final_dense, reps=reps, seed=seed)
        sparse_iqm = iqm_interval(final_sparse, reps=reps, seed=seed)
        rows.append({
            "task": task, "algorithm": algorithm, "setting": setting,
            "runs": len(runs_of_group), "finished": sum(r.finished for r in runs_of_group),
            "frames": int(min(r.frames[-1] for r in group)),
            "final_dense_mean": float(final_dense.mean()),
            "final_dense_iqm": dense_iqm[0], "final_dense_iqm_low": dense_iqm[1], "final_dense_iqm_high": dense_iqm[2],
            "final_sparse_mean": float(final_sparse.mean()),
            "final_sparse_iqm": sparse_iqm[0], "final_sparse_iqm_low": sparse_iqm[1], "final_sparse_iqm_high": sparse_iqm[2],
            "auc_dense": float(np.mean([normalised_auc(r.frames, r.column("dense_return")) for r in group])),
            "auc_sparse": float(np.mean([normalised_auc(r.frames, r.column("sparse_return")) for r in group])),
            "first_sparse_frames_median": _median_reached(first_sparse),
            "runs_with_sparse_reward": sum(not math.isnan(v) for v in first_sparse),
            "first_training_reward_frames_median": _median_reached(first_training),
            "runs_with_training_reward": sum(not math.isnan(v) for v in first_training),
            "demonstrator_dense_return": demonstrator if demonstrator is not None else float("nan"),
            "frames_to_demonstrator_median": _median_reached(to_demo),
            "runs_reaching_demonstrator": sum(not math.isnan(v) for v in to_demo),
            "runs_final_above_demonstrator": int((final_dense > demonstrator).sum()) if demonstrator is not None else 0,
            "cpu_hours": float(np.nansum([r.wall_time for r in runs_of_group])) / 3600,
        })
        for frames in at_frames or []:
            for kind in ("dense", "sparse"):
                values = [r.value_at(f"{kind}_return", frames) for r in group]
                rows[-1][f"{kind}_at_{frames}"] = float(np.mean(values)) if not np.isnan(values).any() else float("nan")
    return rows


def write_rows(rows: list[dict], path: Path, columns: list[str] | tuple[str, ...]) -> None:
    """Rows of a table as CSV, in ``columns``' order."""
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)


def write_csv(rows: list[dict], path: Path, at_frames: list[int] | None = None) -> None:
    write_rows(rows, path, [*COLUMNS, *at_frames_columns(at_frames or [])])


def format_number(value: float, digits: int = 0) -> str:
    """A table cell: thousands separated, ``-`` for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def format_frames(value: float, never: str = "-") -> str:
    """Frames in thousands (``12.5k``); ``never`` for nan (a score the run did not reach)."""
    return never if math.isnan(value) else f"{value / 1000:,.1f}k"


def markdown(rows: list[dict], at_frames: list[int] | None = None) -> str:
    """The table as Markdown: returns with their IQM [95% CI]; frames in thousands ('-': never)."""
    at_frames = at_frames or []
    at_header = "".join(f" dense / sparse at {format_frames(f)} |" for f in at_frames)
    lines = [
        "| task | algorithm | setting | runs | final dense: mean, IQM [95% CI] | final sparse: mean, IQM [95% CI] "
        "| AUC dense / sparse | first reward in training (median; runs) | first sparse evaluation return (median; runs) "
        "| frames to demonstrator (median; runs) | final dense above the demonstrator (runs) | CPU hours |" + at_header,
        "|---|---|---|---|---|---|---|---|---|---|---|---|" + "---|" * len(at_frames),
    ]
    for r in rows:
        scale = max(abs(r["final_dense_mean"]), abs(np.nan_to_num(r["demonstrator_dense_return"])))
        digits = 2 if scale < 10 else 0  # PointNav's returns are below 1, MuJoCo's in the thousands
        dense = f"{format_number(r['final_dense_mean'], digits)}, {format_number(r['final_dense_iqm'], digits)} [{format_number(r['final_dense_iqm_low'], digits)}, {format_number(r['final_dense_iqm_high'], digits)}]"
        sparse = f"{format_number(r['final_sparse_mean'], digits)}, {format_number(r['final_sparse_iqm'], digits)} [{format_number(r['final_sparse_iqm_low'], digits)}, {format_number(r['final_sparse_iqm_high'], digits)}]"
        runs = f"{r['runs']}" + ("" if r["finished"] == r["runs"] else f" ({r['finished']} finished, scored)" if r["finished"] else " (none finished)")
        scored = r["finished"] or r["runs"]  # the counts below are out of the scored runs
        demo = "-" if math.isnan(r["demonstrator_dense_return"]) else f"{format_frames(r['frames_to_demonstrator_median'])}; {r['runs_reaching_demonstrator']}/{scored}"
        above = "-" if math.isnan(r["demonstrator_dense_return"]) else f"{r['runs_final_above_demonstrator']}/{scored}"
        lines.append(
            f"| {r['task']} | {r['algorithm']} | {r['setting']} | {runs} | {dense} | {sparse} "
            f"| {format_number(r['auc_dense'], digits)} / {format_number(r['auc_sparse'], digits)} "
            f"| {format_frames(r['first_training_reward_frames_median'])}; {r['runs_with_training_reward']}/{scored} "
            f"| {format_frames(r['first_sparse_frames_median'])}; {r['runs_with_sparse_reward']}/{scored} | {demo} "
            f"| {above} | {format_number(r['cpu_hours'], 1)} |"
            + "".join(f" {format_number(r[f'dense_at_{f}'], digits)} / {format_number(r[f'sparse_at_{f}'], digits)} |" for f in at_frames)
        )
    return "\n".join(lines) + "\n"
