"""Across a grid's cells (task x base algorithm): scores normalised per task, rliable's aggregates
over all runs of a setting, where GILD beats each baseline, and the collapse census of the
meta-learned losses (the ``grid`` study's analysis; any study whose runs record the demonstrator's
sparse return gets it).

The normalised score is the final sparse return (mean of the last 3 evaluations) divided by the
demonstrator's mean sparse return: 0 = never past the task's gate, 1 = the demonstrator, below 0 =
past the gate with a negative reward there (control and contact costs). The sparse
return is the task's own reward; a dense normalisation says little where an untrained policy's
dense return is near the demonstrator's (Ant: healthy reward), so dense is shown beside it only.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from gild_torchrl.analysis.metrics import (
    _seeded_bootstrap,
    final_return,
    first_frame_above,
    frames_to_first_sparse_reward,
    normalised_auc,
)
from gild_torchrl.analysis.runs import Run
from gild_torchrl.analysis.table import format_frames, format_number, group_runs, scored_runs, setting_key

#: The setting the grid compares with every other one.
GILD = "gild"
#: A learned loss whose output varies less than this over its batch has vanished (no pull on the actor).
VANISHED_STD = 1e-6
#: The learned loss of each meta-learning objective: (setting's objective, output-spread tag, label).
LEARNED_LOSSES = {
    "gild": ("gild/gild_output_std", "GILD"),
    "meta_critic": ("gild/aux_output_std", "Meta-Critic"),
}

CELL_COLUMNS = (
    "task", "algorithm", "setting", "seeds", "final_sparse", "normalised_sparse", "normalised_sparse_by_seed",
    "final_dense", "normalised_dense", "auc_sparse", "auc_dense", "first_training_reward_frames",
    "runs_with_training_reward", "first_sparse_eval_frames", "runs_with_sparse_eval",
    "frames_to_demonstrator_sparse", "runs_reaching_demonstrator_sparse", "demonstrator_sparse_return",
    "demonstrator_dense_return", "command",
)
AGGREGATE_COLUMNS = ("setting", "runs", "cells", "iqm", "iqm_low", "iqm_high", "mean", "mean_low", "mean_high")
COMPARISON_COLUMNS = ("baseline", "cells", "probability_of_improvement", "poi_low", "poi_high",
                      "cells_gild_better_every_seed", "cells_gild_worse_every_seed")
CENSUS_COLUMNS = (
    "task", "algorithm", "setting", "seed", "learned_loss", "first_meta_step_frames", "last_meta_step_frames",
    "spread_logged", "output_std_vanished_frames", "output_std_at_end", "meta_grad_zero_frames", "bc_cosine_at_end",
    "first_reward_frames", "vanished_in_warm_start",
)


def normalised(value: float, demonstrator: float | None) -> float:
    """``value / demonstrator``; nan without a positive demonstrator's return."""
    return value / demonstrator if demonstrator is not None and demonstrator > 0 else float("nan")


def normalised_sparse(run: Run) -> float:
    """The run's final sparse return over the demonstrator's mean sparse return (0: never past the gate)."""
    return normalised(final_return(run.column("sparse_return")), run.demonstrator_sparse_return)


def grid_command(task: str, algorithm: str, setting: str, seeds: list[int]) -> str:
    """The command that runs (or resumes) one cell's runs of the ``grid`` study."""
    return (f"python recipes/study.py study=grid env.name={task} algorithm={algorithm} setting={setting} "
            f"seed={','.join(str(s) for s in seeds)}")


def _median(values: list[float]) -> float:
    reached = [v for v in values if not math.isnan(v)]
    return float(np.median(reached)) if reached else float("nan")


def cell_rows(runs: list[Run]) -> list[dict]:
    """One row per task, algorithm and setting (see ``CELL_COLUMNS``), scored on its finished runs when it has any.

    Frames to the demonstrator: the first evaluation whose sparse return reaches the demonstrator's
    mean sparse return. Medians of frames are over the runs that reached them.
    """
    rows = []
    for (task, algorithm, setting), group in group_runs(runs).items():
        group = scored_runs(group)
        demo_sparse = next((r.demonstrator_sparse_return for r in group if r.demonstrator_sparse_return is not None), None)
        demo_dense = next((r.demonstrator_dense_return for r in group if r.demonstrator_dense_return is not None), None)
        final_sparse = [final_return(r.column("sparse_return")) for r in group]
        final_dense = [final_return(r.column("dense_return")) for r in group]
        first_training = [r.first_reward_frame for r in group]
        first_eval = [frames_to_first_sparse_reward(r.frames, r.column("sparse_return")) for r in group]
        to_demo = ([first_frame_above(r.frames, r.column("sparse_return"), demo_sparse) for r in group]
                   if demo_sparse is not None else [float("nan")] * len(group))
        scores = [normalised(v, demo_sparse) for v in final_sparse]
        rows.append({
            "task": task, "algorithm": algorithm, "setting": setting, "seeds": [r.seed for r in group],
            "final_sparse": float(np.mean(final_sparse)), "normalised_sparse": float(np.mean(scores)),
            "normalised_sparse_by_seed": scores,
            "final_dense": float(np.mean(final_dense)),
            "normalised_dense": normalised(float(np.mean(final_dense)), demo_dense),
            "auc_sparse": float(np.mean([normalised_auc(r.frames, r.column("sparse_return")) for r in group])),
            "auc_dense": float(np.mean([normalised_auc(r.frames, r.column("dense_return")) for r in group])),
            "first_training_reward_frames": _median(first_training),
            "runs_with_training_reward": sum(not math.isnan(v) for v in first_training),
            "first_sparse_eval_frames": _median(first_eval),
            "runs_with_sparse_eval": sum(not math.isnan(v) for v in first_eval),
            "frames_to_demonstrator_sparse": _median(to_demo),
            "runs_reaching_demonstrator_sparse": sum(not math.isnan(v) for v in to_demo),
            "demonstrator_sparse_return": demo_sparse if demo_sparse is not None else float("nan"),
            "demonstrator_dense_return": demo_dense if demo_dense is not None else float("nan"),
            "command": grid_command(task, algorithm, setting, sorted(r.seed for r in group)),
        })
    return rows


def score_matrices(runs: list[Run]) -> dict[str, dict[tuple[str, str], dict[int, float]]]:
    """Normalised sparse scores: setting -> (task, algorithm) -> seed -> score (runs without the
    demonstrator's sparse return in ``run.json`` are left out)."""
    scores: dict[str, dict[tuple[str, str], dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for (task, algorithm, setting), group in group_runs(runs).items():
        for run in scored_runs(group):
            score = normalised_sparse(run)
            if not math.isnan(score):
                scores[setting][(task, algorithm)][run.seed] = score
    return scores


def _matrix(cells: dict[tuple[str, str], dict[int, float]]) -> np.ndarray:
    """(runs, cells) for rliable's stratified bootstrap: the seeds every cell has, in order."""
    seeds = sorted(set.intersection(*(set(c) for c in cells.values()))) if cells else []
    return np.array([[cells[cell][seed] for cell in sorted(cells)] for seed in seeds]).reshape(len(seeds), len(cells))


def aggregate_rows(runs: list[Run], reps: int = 2000, seed: int = 0) -> list[dict]:
    """Per setting, over all its runs: IQM and mean of the normalised sparse score with 95% stratified
    bootstrap CIs (rliable; runs resampled within each cell). Cells missing a seed that others have
    contribute only the seeds all cells share."""
    from rliable import library as rly
    from rliable import metrics

    scores = score_matrices(runs)
    rows = []
    for setting in sorted(scores, key=setting_key):
        matrix = _matrix(scores[setting])
        if matrix.size == 0:
            continue
        with _seeded_bootstrap(seed) as random_state:
            points, intervals = rly.get_interval_estimates(
                {setting: matrix}, lambda x: np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)]),
                reps=reps, random_state=random_state)
        (iqm, mean), ((iqm_low, mean_low), (iqm_high, mean_high)) = points[setting], intervals[setting]
        rows.append({"setting": setting, "runs": int(matrix.size), "cells": matrix.shape[1], "iqm": float(iqm),
                     "iqm_low": float(iqm_low), "iqm_high": float(iqm_high), "mean": float(mean),
                     "mean_low": float(mean_low), "mean_high": float(mean_high)})
    return rows


def comparison_rows(runs: list[Run], reps: int = 2000, seed: int = 0) -> list[dict]:
    """GILD against each other setting, on the cells both have (a setting run once per task, LOGO,
    stands for every algorithm of that task): rliable's probability of improvement P(GILD > X) with
    its 95% CI, and the cells where GILD's score is above (below) X's on every seed both ran."""
    from rliable import library as rly
    from rliable import metrics

    scores = score_matrices(runs)
    gild = scores.get(GILD)
    if not gild:
        return []
    rows = []
    for baseline in sorted((s for s in scores if s != GILD), key=setting_key):
        theirs = scores[baseline]
        per_task = {task: cell for (task, _), cell in theirs.items()}
        once_per_task = len({algorithm for _, algorithm in theirs}) == 1 and not set(theirs) & set(gild)  # LOGO
        pairs = {}
        for cell, ours in gild.items():
            other = per_task.get(cell[0]) if once_per_task else theirs.get(cell)
            if other:
                pairs[cell] = (ours, other)
        if not pairs:
            continue
        x = _matrix({cell: ours for cell, (ours, _) in pairs.items()})
        y = _matrix({cell: other for cell, (_, other) in pairs.items()})
        with _seeded_bootstrap(seed) as random_state:
            points, intervals = rly.get_interval_estimates(
                {"pair": (x, y)}, lambda a, b: np.array([metrics.probability_of_improvement(a, b)]),
                reps=reps, random_state=random_state)
        better = worse = 0
        for ours, other in pairs.values():
            common = sorted(set(ours) & set(other))
            if common and all(ours[s] > other[s] for s in common):
                better += 1
            if common and all(ours[s] < other[s] for s in common):
                worse += 1
        rows.append({"baseline": baseline, "cells": len(pairs), "probability_of_improvement": float(points["pair"][0]),
                     "poi_low": float(intervals["pair"][0, 0]), "poi_high": float(intervals["pair"][1, 0]),
                     "cells_gild_better_every_seed": better, "cells_gild_worse_every_seed": worse})
    return rows


def _first_frame_below(steps: np.ndarray, values: np.ndarray, threshold: float) -> float:
    below = values < threshold
    return float(steps[np.argmax(below)]) if below.any() else float("nan")


def census_rows(runs: list[Run], vanished_std: float = VANISHED_STD) -> list[dict]:
    """One row per run of a meta-learning setting that logged its diagnostics (see ``CENSUS_COLUMNS``; nan: never).

    ``output_std_vanished_frames``: the first logged step where the learned loss's spread over its
    batch (GILD: the demo batch; Meta-Critic: the replay batch) fell below ``vanished_std``;
    ``meta_grad_zero_frames``: the first where the meta-gradient's norm was exactly 0;
    ``bc_cosine_at_end``: cosine of GILD's action gradient with BC's at the last logged step of
    the warm start (Meta-Critic has no BC reference: nan); ``vanished_in_warm_start``: the spread
    fell below ``vanished_std`` before the last meta step (GILD: its warm start; Meta-Critic: the run).
    ``spread_logged``: false for a run made before its objective logged the spread (then nan, not "never").
    """
    rows = []
    for run in sorted(runs, key=lambda r: (r.task, r.algorithm, setting_key(r.setting), r.seed)):
        objective = run.objective if run.objective in LEARNED_LOSSES else run.setting
        if objective not in LEARNED_LOSSES:
            continue
        std_tag, label = LEARNED_LOSSES[objective]
        steps, meta_step = run.scalars("gild/meta_step")
        std_steps, std = run.scalars(std_tag)
        if not steps.size and not std_steps.size:
            continue
        ran = steps[meta_step > 0.5]
        vanished = _first_frame_below(std_steps, std, vanished_std)
        last_meta = float(ran[-1]) if ran.size else float("nan")
        _, cosine = run.scalars("gild/gild_bc_cosine")
        rows.append({
            "task": run.task, "algorithm": run.algorithm, "setting": run.setting, "seed": run.seed, "learned_loss": label,
            "first_meta_step_frames": float(ran[0]) if ran.size else float("nan"), "last_meta_step_frames": last_meta,
            "spread_logged": bool(std_steps.size), "output_std_vanished_frames": vanished, "output_std_at_end": float(std[-1]) if std.size else float("nan"),
            "meta_grad_zero_frames": _first_frame_below(*run.scalars("gild/meta_grad_norm"), np.finfo(float).tiny),
            "bc_cosine_at_end": float(cosine[-1]) if cosine.size else float("nan"),
            "first_reward_frames": run.first_reward_frame,
            "vanished_in_warm_start": bool(not math.isnan(vanished) and vanished <= last_meta),
        })
    return rows


def _fraction(value: float, digits: int = 2) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def markdown(cells: list[dict], aggregates: list[dict], comparisons: list[dict], census: list[dict]) -> str:
    """The grid's report: per-cell table, aggregates, GILD's comparisons, and the collapse census."""
    lines = ["## Per cell", "",
             "Normalised score: final sparse return / the demonstrator's mean sparse return (0: never past the gate; "
             "below 0: past it with a negative reward there). "
             "Frames in thousands; '-': never.", "",
             "| task | algorithm | setting | seeds | final sparse (normalised; per seed) | final dense (normalised) "
             "| AUC sparse / dense | first reward in training (median; runs) | first sparse evaluation (median; runs) "
             "| to the demonstrator's sparse return (median; runs) | command |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in cells:
        n = len(r["seeds"])
        by_seed = ", ".join(_fraction(v) for v in r["normalised_sparse_by_seed"])
        lines.append(
            f"| {r['task']} | {r['algorithm']} | {r['setting']} | {n} | {format_number(r['final_sparse'])} "
            f"({_fraction(r['normalised_sparse'])}; {by_seed}) | {format_number(r['final_dense'])} ({_fraction(r['normalised_dense'])}) "
            f"| {format_number(r['auc_sparse'])} / {format_number(r['auc_dense'])} "
            f"| {format_frames(r['first_training_reward_frames'])}; {r['runs_with_training_reward']}/{n} "
            f"| {format_frames(r['first_sparse_eval_frames'])}; {r['runs_with_sparse_eval']}/{n} "
            f"| {format_frames(r['frames_to_demonstrator_sparse'])}; {r['runs_reaching_demonstrator_sparse']}/{n} "
            f"| `{r['command']}` |")
    if aggregates:
        lines += ["", "## Aggregates over all runs of a setting", "",
                  "Normalised sparse score; 95% stratified bootstrap CIs (rliable, runs resampled within each cell).", "",
                  "| setting | runs | cells | IQM [95% CI] | mean [95% CI] |", "|---|---|---|---|---|"]
        for r in aggregates:
            lines.append(f"| {r['setting']} | {r['runs']} | {r['cells']} | {r['iqm']:.3f} [{r['iqm_low']:.3f}, {r['iqm_high']:.3f}] "
                         f"| {r['mean']:.3f} [{r['mean_low']:.3f}, {r['mean_high']:.3f}] |")
    if comparisons:
        lines += ["", "## GILD against each setting", "",
                  "P(GILD > X): rliable's probability of improvement on the normalised sparse score, averaged over "
                  "the cells both ran (LOGO: its run of the cell's task), with its 95% CI; cells where GILD is above "
                  "(below) X on every seed both ran.", "",
                  "| X | cells | P(GILD > X) [95% CI] | cells GILD above on every seed | cells GILD below on every seed |",
                  "|---|---|---|---|---|"]
        for r in comparisons:
            lines.append(f"| {r['baseline']} | {r['cells']} | {r['probability_of_improvement']:.2f} [{r['poi_low']:.2f}, "
                         f"{r['poi_high']:.2f}] | {r['cells_gild_better_every_seed']} | {r['cells_gild_worse_every_seed']} |")
    if census:
        lines += ["", "## The collapse census of the meta-learned losses", "", census_markdown(census)]
    return "\n".join(lines) + "\n"


def _spread(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2g}"


def census_markdown(rows: list[dict], vanished_std: float = VANISHED_STD) -> str:
    """The census as Markdown, with the count of cells where the learned loss vanished while it was being learned."""
    lines = [f"| task | algorithm | setting | seed | meta steps (first - last) | output spread below {vanished_std:g} "
             f"| spread at the end | meta-gradient 0 | cosine with BC's at the end | first reward |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['algorithm']} | {r['setting']} | {r['seed']} "
            f"| {format_frames(r['first_meta_step_frames'], 'never')} - {format_frames(r['last_meta_step_frames'])} "
            f"| {format_frames(r['output_std_vanished_frames'], 'never' if r['spread_logged'] else 'not logged')} "
            f"| {_spread(r['output_std_at_end'])} "
            f"| {format_frames(r['meta_grad_zero_frames'], 'never')} | {_fraction(r['bc_cosine_at_end'])} "
            f"| {format_frames(r['first_reward_frames'], 'never')} |")
    cells: dict[tuple[str, str, str], list[bool]] = defaultdict(list)
    for r in rows:
        if r["spread_logged"]:
            cells[(r["task"], r["algorithm"], r["setting"])].append(r["vanished_in_warm_start"])
    for setting in sorted({key[2] for key in cells}, key=setting_key):
        mine = {k: v for k, v in cells.items() if k[2] == setting}
        every = sum(all(v) for v in mine.values())
        some = sum(any(v) for v in mine.values())
        lines.append(f"\n{setting}: the learned loss's spread fell below {vanished_std:g} while it was meta-learned in "
                     f"{every} of {len(mine)} cells on every seed, in {some} on at least one.")
    return "\n".join(lines) + "\n"
