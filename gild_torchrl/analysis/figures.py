"""The study's figures (PNG and SVG, matplotlib): learning curves (also by demonstration set), divergence from
the demonstrator, diagnostics."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from gild_torchrl.analysis.metrics import mean_curve_interval
from gild_torchrl.analysis.runs import Run
from gild_torchrl.analysis.table import SETTING_ORDER, group_runs, scored_runs, setting_key

LABELS = {
    "rl": "RL", "il": "RL+IL", "il_warm_start": "RL+IL (warm start only)", "meta_critic": "Meta-Critic",
    "gild": "GILD", "gild_bc_first_reward": "GILD (BC init, meta from 1st reward)",
    "gild_q_value": "GILD (mean-Q meta-loss)", "gild_ws5k": "GILD (0.5% warm start)", "gild_ws20k": "GILD (2% warm start)",
    "gild_ws50k": "GILD (5% warm start)", "il_noisy_demos": "RL+IL (noisy demos)", "il_negated_demos": "RL+IL (negated demos)",
    "gild_bc_first_reward_noisy_demos": "GILD BC-first (noisy demos)",
    "gild_bc_first_reward_negated_demos": "GILD BC-first (negated demos)",
    "il_weak_demos": "RL+IL (weak demos)", "gild_bc_first_reward_weak_demos": "GILD BC-first (weak demos)",
    "logo": "LOGO",
}
ALGORITHM_LABELS = {"ddpg": "DDPG", "td3": "TD3", "sac": "SAC"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def setting_colours(runs: list[Run]) -> dict[str, tuple[float, float, float]]:
    """A colour per setting of the runs, no two alike up to 20 settings: the named settings keep theirs
    in every study (tab10's first six), the others take the colours left free, in the table's order."""
    return colours_of({run.setting for run in runs})


def colours_of(settings: Iterable[str]) -> dict[str, tuple[float, float, float]]:
    """``setting_colours`` for a set of setting names."""
    plt = _pyplot()
    palette = list(plt.get_cmap("tab10").colors) + list(plt.get_cmap("tab20").colors[1::2])
    settings = sorted(set(settings), key=setting_key)
    colours = {s: palette[SETTING_ORDER.index(s)] for s in settings if s in SETTING_ORDER}
    taken = {SETTING_ORDER.index(s) for s in colours}
    # the other settings never borrow a named setting's colour while others are left (gild_q_value is not RL's blue)
    free = [c for i, c in enumerate(palette) if i >= len(SETTING_ORDER)]
    free += [c for i, c in enumerate(palette[: len(SETTING_ORDER)]) if i not in taken]
    others = [s for s in settings if s not in colours]
    colours.update({s: free[i % len(free)] for i, s in enumerate(others)})
    return colours


def _panels(runs: list[Run]) -> dict[tuple[str, str], dict[str, list[Run]]]:
    """(task, algorithm) -> setting -> runs."""
    panels: dict[tuple[str, str], dict[str, list[Run]]] = defaultdict(dict)
    for (task, algorithm, setting), group in group_runs(runs).items():
        panels[(task, algorithm)][setting] = group
    return panels


def _say_not_logged(ax, message: str) -> None:
    """Write why a panel has no line (a setting that does not log it) instead of leaving an empty frame."""
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=8, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _common_curve(group: list[Run], column: str) -> tuple[np.ndarray, np.ndarray]:
    """The group's scored runs (its finished ones, if any) on the evaluation frames they all share."""
    group = scored_runs(group)
    frames = group[0].frames
    for run in group[1:]:
        frames = np.intersect1d(frames, run.frames)
    return frames, np.stack([r.column(column)[np.isin(r.frames, frames)] for r in group])


def _save(fig, out_dir: Path, name: str) -> list[Path]:
    import matplotlib

    paths = [out_dir / f"{name}.png", out_dir / f"{name}.svg"]
    fig.savefig(paths[0], dpi=120, bbox_inches="tight")
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # SVG text stays text: searchable, editable
        fig.savefig(paths[1], bbox_inches="tight")
    _pyplot().close(fig)
    return paths


def plot_learning_curves(runs: list[Run], out_dir: Path, reps: int = 2000, seed: int = 0) -> list[Path]:
    """Dense and sparse evaluation return against frames, per task and base algorithm.

    One line per setting: the mean over seeds with a 95% bootstrap band (rliable); the
    demonstrator's mean return as a dashed horizontal line where the demonstrations record it.
    """
    plt = _pyplot()
    colour = setting_colours(runs)
    panels = _panels(runs)
    fig, axes = plt.subplots(len(panels), 2, figsize=(11, 3.6 * len(panels)), squeeze=False)
    for row, ((task, algorithm), settings) in enumerate(panels.items()):
        for col, (column, kind) in enumerate((("dense_return", "dense"), ("sparse_return", "sparse"))):
            ax = axes[row, col]
            for setting, group in settings.items():
                frames, curves = _common_curve(group, column)
                mean, low, high = mean_curve_interval(curves, reps=reps, seed=seed)
                ax.plot(frames, mean, color=colour[setting], label=f"{LABELS.get(setting, setting)} (n={len(curves)})")
                ax.fill_between(frames, low, high, color=colour[setting], alpha=0.2, linewidth=0)
            demonstrator = next((getattr(r, f"demonstrator_{kind}_return") for g in settings.values() for r in g
                                 if getattr(r, f"demonstrator_{kind}_return") is not None), None)
            if demonstrator is not None:
                ax.axhline(demonstrator, color="black", linestyle="--", linewidth=1, label="demonstrator")
            ax.set_title(f"{task}, {ALGORITHM_LABELS.get(algorithm, algorithm)}: {kind} evaluation return")
            ax.set_xlabel("environment frames")
            ax.set_ylabel(f"{kind} return (mean over seeds, 95% CI)")
            ax.grid(alpha=0.3)
        axes[row, 0].legend(fontsize=8, loc="best")
    fig.tight_layout()
    return _save(fig, out_dir, "learning_curves")


#: Settings that vary the demonstrations are named ``<setting>_<kind>_demos`` (``il_noisy_demos``).
DEMOS_SUFFIX = "_demos"


def demonstration_kind(run: Run) -> tuple[str, str] | None:
    """(base setting, demonstration set) of a run: ``il_noisy_demos`` is ("il", "noisy"), ``il`` is
    ("il", "bundled"); None for a run without demonstrations (objective ``rl``), the floor of every set."""
    if run.objective == "rl" or (run.objective is None and run.setting == "rl"):
        return None
    if run.setting.endswith(DEMOS_SUFFIX):
        base, _, kind = run.setting[: -len(DEMOS_SUFFIX)].rpartition("_")
        if base and kind:
            return base, kind
    return run.setting, "bundled"


def plot_by_demonstrations(runs: list[Run], out_dir: Path, reps: int = 2000, seed: int = 0) -> list[Path]:
    """Dense evaluation return with one panel per demonstration set, for studies that vary the set
    (settings named ``<setting>_<kind>_demos``): the same colour for a base setting in every panel, and
    the runs without demonstrations in every panel as the floor. Nothing when no setting varies it."""
    varied = sorted({k[1] for r in runs if (k := demonstration_kind(r)) and k[1] != "bundled"})
    if not varied:
        return []
    plt = _pyplot()
    rows = _panels(runs)
    kinds = ["bundled"] + varied
    colour = colours_of(r.setting if (k := demonstration_kind(r)) is None else k[0] for r in runs)
    fig, axes = plt.subplots(len(rows), len(kinds), figsize=(4.4 * len(kinds), 3.4 * len(rows)), squeeze=False, sharey="row")
    for row, ((task, algorithm), settings) in enumerate(rows.items()):
        # (base setting, its demonstration kind or None for the floor, runs), in the table's order
        lines = sorted(((setting if (d := demonstration_kind(g[0])) is None else d[0], d, g) for setting, g in settings.items()),
                       key=lambda line: setting_key(line[0]))
        for col, kind in enumerate(kinds):
            ax = axes[row, col]
            for base, demo, group in lines:
                if demo is not None and demo[1] != kind:
                    continue
                frames, curves = _common_curve(group, "dense_return")
                mean, low, high = mean_curve_interval(curves, reps=reps, seed=seed)
                style = "--" if demo is None else "-"
                ax.plot(frames, mean, style, color=colour[base], label=f"{LABELS.get(base, base)} (n={len(curves)})")
                ax.fill_between(frames, low, high, color=colour[base], alpha=0.15, linewidth=0)
            demonstrator = next((r.demonstrator_dense_return for g in settings.values() for r in g
                                 if (d := demonstration_kind(r)) and d[1] == kind and r.demonstrator_dense_return is not None), None)
            if demonstrator is not None:
                ax.axhline(demonstrator, color="black", linestyle=":", linewidth=1, label="demonstrator")
            ax.set_title(f"{task}, {ALGORITHM_LABELS.get(algorithm, algorithm)}: {kind} demonstrations", fontsize=10)
            ax.set_xlabel("environment frames")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="upper left")
        axes[row, 0].set_ylabel("dense return (mean over seeds, 95% CI)")
    fig.tight_layout()
    return _save(fig, out_dir, "learning_curves_by_demonstrations")


def plot_divergence(runs: list[Run], out_dir: Path) -> list[Path]:
    """How far each policy's actions are from the demonstrated ones on the demonstration states.

    Action MSE (deterministic action vs demonstrated action) for every algorithm; for stochastic
    policies (SAC, TRPO) also the negative log-likelihood of the demonstrated actions and, when the
    runs measured it (SAC), the KL divergence from the fitted behaviour policy. Mean over seeds,
    thin lines per seed.
    """
    plt = _pyplot()
    colour = setting_colours(runs)
    panels = {k: v for k, v in _panels(runs).items()
              if any(np.isfinite(r.column("demo_action_mse")).any() for g in v.values() for r in g)}
    if not panels:
        return []
    columns = [("demo_action_mse", "action MSE to the demonstrations")]
    if any(np.isfinite(r.column("demo_nll")).any() for settings in panels.values() for g in settings.values() for r in g):
        columns.append(("demo_nll", "NLL of demonstrated actions"))
    if any(np.isfinite(r.column("demo_kl")).any() for settings in panels.values() for g in settings.values() for r in g):
        columns.append(("demo_kl", "KL(policy || behaviour policy) (SAC)"))
    fig, axes = plt.subplots(len(panels), len(columns), figsize=(5.8 * len(columns), 3.6 * len(panels)), squeeze=False)
    for row, ((task, algorithm), settings) in enumerate(panels.items()):
        for col, (column, label) in enumerate(columns):
            ax = axes[row, col]
            for setting, group in settings.items():
                frames, curves = _common_curve(group, column)
                if not np.isfinite(curves).any():
                    continue
                for curve in curves:
                    ax.plot(frames, curve, color=colour[setting], alpha=0.25, linewidth=0.7)
                ax.plot(frames, np.nanmean(curves, axis=0), color=colour[setting], label=LABELS.get(setting, setting))
            ax.set_title(f"{task}, {ALGORITHM_LABELS.get(algorithm, algorithm)}: divergence from the demonstrator")
            ax.set_xlabel("environment frames")
            ax.set_ylabel(label)
            if not ax.has_data():  # a deterministic policy has no likelihood
                _say_not_logged(ax, "not measured for these settings" + ("\n(deterministic policy)" if column == "demo_nll" else ""))
                continue
            if column in ("demo_action_mse", "demo_kl"):  # both >= 0 and spanning decades (a far policy's KL is in the thousands)
                ax.set_yscale("log")
            if column == "demo_nll":  # negative for a sharp likelihood, thousands for a far policy
                ax.set_yscale("symlog", linthresh=10.0)
            ax.grid(alpha=0.3)
        axes[row, 0].legend(fontsize=8, loc="best")
    fig.tight_layout()
    return _save(fig, out_dir, "divergence")


#: TensorBoard scalars of the ``gild/`` diagnostics worth a panel: (tag, axis label, log scale).
DIAGNOSTICS = (
    ("gild/rewarded_transitions", "rewarded transitions collected", True),
    ("gild/meta_step", "meta step ran (1) or held back (0)", False),
    ("gild/meta_grad_norm", "meta-gradient norm", True),
    ("gild/gild_output_std", "std of the GILD output on the demo batch", True),
    ("gild/aux_output_std", "std of the Meta-Critic output on the replay batch", True),
    ("gild/gild_loss", "GILD loss, mean over the demo batch", False),
    ("gild/gild_bc_cosine", "cosine(dL_GILD/da, dL_BC/da)", False),
    ("gild/gild_bc_norm_ratio", "|dL_GILD/da| / |dL_BC/da|", True),
)


def plot_diagnostics(runs: list[Run], out_dir: Path) -> list[Path]:
    """The ``gild/`` diagnostics from the runs' TensorBoard events against frames, one line per run.

    Panels only for the diagnostics some run logged (the meta-learning ones stop with the warm start).
    """
    plt = _pyplot()
    colour = setting_colours(runs)
    panels = _panels(runs)
    tags = [d for d in DIAGNOSTICS if any(r.scalars(d[0])[0].size for s in panels.values() for g in s.values() for r in g)]
    if not tags:
        return []
    # one row per task and algorithm; a single one wraps into rows of three panels
    ncols = min(3, len(tags)) if len(panels) == 1 else len(tags)
    nrows = math.ceil(len(tags) / ncols) if len(panels) == 1 else len(panels)
    fig, grid = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)
    axes = grid.reshape(len(panels), -1)
    for ax in axes[0, len(tags):] if len(panels) == 1 else ():
        ax.set_visible(False)
    for row, ((task, algorithm), settings) in enumerate(panels.items()):
        for col, (tag, label, log_scale) in enumerate(tags):
            ax = axes[row, col]
            for setting, group in settings.items():
                labelled = False
                for run in group:
                    steps, values = run.scalars(tag)
                    if not steps.size:
                        continue
                    ax.plot(steps, values, color=colour[setting], alpha=0.7, linewidth=0.9,
                            marker="o" if steps.size < 20 else None, markersize=3,  # a 1% warm start logs few points
                            label=None if labelled else LABELS.get(setting, setting))
                    labelled = True
            ax.set_title(f"{task}, {ALGORITHM_LABELS.get(algorithm, algorithm)}: {tag}", fontsize=9)
            ax.set_xlabel("environment frames")
            ax.set_ylabel(label, fontsize=8)
            if tag == "gild/meta_step":
                ax.set_ylim(-0.1, 1.1)
            if tag == "gild/gild_bc_cosine":  # a cosine; runs logged before gradient_alignment rescaled could leave [-1, 1]
                ax.set_ylim(-1.05, 1.05)
            if not ax.has_data():  # e.g. LOGO beside GILD
                _say_not_logged(ax, "not logged by these settings\n(no GILD network)")
                continue
            if log_scale:
                ax.set_yscale("symlog" if tag == "gild/rewarded_transitions" else "log")
            ax.grid(alpha=0.3)
        axes[row, 0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    return _save(fig, out_dir, "diagnostics")


#: Base algorithms a grid runs once per task, beside the off-policy ones (LOGO's TRPO).
ONCE_PER_TASK = ("trpo",)
#: The grid's rows, in the paper's order (other tasks follow).
TASK_ORDER = ("PointNav", "Hopper-v5", "Walker2d-v5", "HalfCheetah-v5", "Ant-v5")


def plot_grid(runs: list[Run], out_dir: Path, column: str = "sparse_return") -> list[Path]:
    """One panel per task (rows) and base algorithm (columns): the evaluation return over the demonstrator's
    mean return of the same kind (sparse: the normalised score's curve), mean over seeds with each seed thin
    (how many seeds: the per-cell table).

    A setting run once per task (LOGO) is drawn, dashed, in every panel of its task's row.
    """
    plt = _pyplot()
    kind = column.split("_")[0]
    colour = setting_colours(runs)
    panels = _panels(runs)
    tasks = sorted(dict.fromkeys(task for task, _ in panels), key=lambda t: TASK_ORDER.index(t) if t in TASK_ORDER else len(TASK_ORDER))
    per_task_algorithms = {a for _, a in panels} & set(ONCE_PER_TASK)
    algorithms = sorted({a for _, a in panels} - per_task_algorithms, key=lambda a: list(ALGORITHM_LABELS).index(a)
                        if a in ALGORITHM_LABELS else len(ALGORITHM_LABELS)) or sorted(per_task_algorithms)
    fig, axes = plt.subplots(len(tasks), len(algorithms), figsize=(4.4 * len(algorithms), 3.3 * len(tasks)),
                             squeeze=False, sharex=True)
    for row, task in enumerate(tasks):
        once = [(s, g) for (t, a), settings in panels.items() if t == task and a in per_task_algorithms
                and a not in algorithms for s, g in settings.items()]
        for col, algorithm in enumerate(algorithms):
            ax = axes[row, col]
            settings = [(s, g, "-") for s, g in panels.get((task, algorithm), {}).items()] + [(s, g, "--") for s, g in once]
            for setting, group, style in settings:
                demonstrator = next((getattr(r, f"demonstrator_{kind}_return") for r in group
                                     if getattr(r, f"demonstrator_{kind}_return")), None)
                scale = demonstrator or 1.0
                frames, curves = _common_curve(group, column)
                for curve in curves:
                    ax.plot(frames, curve / scale, color=colour[setting], linestyle=style, linewidth=0.5, alpha=0.4)
                ax.plot(frames, curves.mean(axis=0) / scale, color=colour[setting], linestyle=style,
                        marker="o" if frames.size < 3 else None, markersize=3, label=LABELS.get(setting, setting))
            ax.axhline(1.0, color="black", linestyle=":", linewidth=1, label="demonstrator")
            ax.set_title(f"{task}, {ALGORITHM_LABELS.get(algorithm, algorithm)}", fontsize=10)
            if row == len(tasks) - 1:
                ax.set_xlabel("environment frames")
            if col == 0:
                ax.set_ylabel(f"{kind} return / demonstrator's")
            ax.grid(alpha=0.3)
    legend = {}  # every setting once, whichever panels it ran in
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    fig.tight_layout(rect=(0, 0, 0.84, 1))
    fig.legend(legend.values(), legend.keys(), loc="center right", fontsize=8)
    return _save(fig, out_dir, f"grid_{kind}")


def plot_aggregates(aggregates: list[dict], comparisons: list[dict], out_dir: Path) -> list[Path]:
    """IQM and mean of the normalised sparse score per setting, and P(GILD > X), each with its 95% CI."""
    plt = _pyplot()
    if not aggregates:
        return []
    colour = colours_of(r["setting"] for r in aggregates)
    panels = 3 if comparisons else 2
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 0.5 * len(aggregates) + 1.6), squeeze=False)
    for ax, (key, title) in zip(axes[0], (("iqm", "IQM"), ("mean", "mean"))):
        for y, r in enumerate(aggregates):
            ax.errorbar(r[key], y, xerr=[[r[key] - r[f"{key}_low"]], [r[f"{key}_high"] - r[key]]], fmt="o",
                        color=colour[r["setting"]], capsize=3)
        ax.set_yticks(range(len(aggregates)), [LABELS.get(r["setting"], r["setting"]) for r in aggregates], fontsize=8)
        ax.set_xlabel(f"normalised sparse score: {title} (95% CI)")
        ax.axvline(1.0, color="black", linestyle=":", linewidth=1)
        ax.grid(alpha=0.3, axis="x")
    if comparisons:
        ax = axes[0, 2]
        for y, r in enumerate(comparisons):
            p = r["probability_of_improvement"]
            ax.errorbar(p, y, xerr=[[p - r["poi_low"]], [r["poi_high"] - p]], fmt="o", color="black", capsize=3)
        ax.set_yticks(range(len(comparisons)), [f"GILD > {LABELS.get(r['baseline'], r['baseline'])}" for r in comparisons],
                      fontsize=8)
        ax.axvline(0.5, color="0.5", linestyle="--", linewidth=1)
        ax.set_xlim(0, 1)
        ax.set_xlabel("probability of improvement (95% CI)")
        ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return _save(fig, out_dir, "aggregates")
