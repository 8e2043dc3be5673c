"""When GILD's guidance settles, run by run, from the ``gild/`` diagnostics of its warm start.

The paper asks how long the warm start must be for the meta-learned loss to converge. A GILD
network whose output stops varying over the demonstration batch pulls the actor no more (its
action gradient is zero), whatever the warm start's length, so the table reads, for each run that
logged a warm start, when the GILD term's pull on the actor fell below a fraction of BC's pull on
the same batch (``gild/gild_bc_norm_ratio``) and stayed there.
"""

from __future__ import annotations

import math

from gild_torchrl.analysis.metrics import final_return, first_frame_staying_below
from gild_torchrl.analysis.runs import Run
from gild_torchrl.analysis.table import format_frames, format_number, setting_key

#: The GILD term has faded when its action gradient is below this fraction of BC's, for good.
FADED_RATIO = 1e-3

COLUMNS = (
    "task", "algorithm", "setting", "seed", "first_meta_step_frames", "last_logged_frames",
    "faded_frames", "faded_after_frames", "output_std_at_end", "final_dense", "final_sparse",
)


def warm_start_rows(runs: list[Run], faded_ratio: float = FADED_RATIO) -> list[dict]:
    """One row per run that logged ``gild/meta_step`` (see ``COLUMNS``; nan: never).

    ``first_meta_step_frames``: the first logged step whose meta step ran (a BC-started setting
    holds it back until the first reward); ``last_logged_frames``: the warm start's last logged
    step; ``faded_frames``: from when ``gild/gild_bc_norm_ratio`` stayed below ``faded_ratio``,
    and ``faded_after_frames`` that minus the first meta step.
    """
    rows = []
    for run in sorted(runs, key=lambda r: (r.task, r.algorithm, setting_key(r.setting), r.seed)):
        steps, meta_step = run.scalars("gild/meta_step")
        if not steps.size:
            continue
        ran = steps[meta_step > 0.5]
        first_meta = float(ran[0]) if ran.size else float("nan")
        faded = first_frame_staying_below(*run.scalars("gild/gild_bc_norm_ratio"), faded_ratio)
        _, output_std = run.scalars("gild/gild_output_std")
        rows.append({
            "task": run.task, "algorithm": run.algorithm, "setting": run.setting, "seed": run.seed,
            "first_meta_step_frames": first_meta, "last_logged_frames": float(steps[-1]),
            "faded_frames": faded, "faded_after_frames": faded - first_meta,
            "output_std_at_end": float(output_std[-1]) if output_std.size else float("nan"),
            "final_dense": final_return(run.column("dense_return")),
            "final_sparse": final_return(run.column("sparse_return")),
        })
    return rows


def markdown(rows: list[dict], faded_ratio: float = FADED_RATIO) -> str:
    """The rows as a Markdown table (frames in thousands)."""
    lines = [
        f"| task | algorithm | setting | seed | first meta step | warm start logged until "
        f"| GILD pull below {faded_ratio:g} of BC's from (after the first meta step) "
        f"| GILD output std at the end | final dense / sparse |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        after = "" if math.isnan(r["faded_after_frames"]) else f" (+{format_frames(r['faded_after_frames'])})"
        std = "-" if math.isnan(r["output_std_at_end"]) else f"{r['output_std_at_end']:.2g}"
        lines.append(
            f"| {r['task']} | {r['algorithm']} | {r['setting']} | {r['seed']} | {format_frames(r['first_meta_step_frames'], 'never')} "
            f"| {format_frames(r['last_logged_frames'])} | {format_frames(r['faded_frames'], 'never')}{after} | {std} "
            f"| {format_number(r['final_dense'])} / {format_number(r['final_sparse'])} |"
        )
    return "\n".join(lines) + "\n"
