"""The grid's analysis across cells (gild_torchrl.analysis.cells) on a synthetic grid whose answers are known."""

from __future__ import annotations

import json
import math

import pytest

from gild_torchrl.analysis import load_study
from gild_torchrl.analysis.__main__ import grid_report

from test_analysis import PNG_MAGIC, write_run

#: Normalised sparse scores (final sparse return / the demonstrator's 100) by setting, cell and seed.
SCORES = {
    "rl": {("Hopper-v5", "td3"): (0, 0), ("Hopper-v5", "sac"): (0, 0), ("Ant-v5", "td3"): (0, 0), ("Ant-v5", "sac"): (0, 0)},
    "meta_critic": {("Hopper-v5", "td3"): (0.6, 0.6), ("Hopper-v5", "sac"): (0.1, 0.5), ("Ant-v5", "td3"): (0, 0),
                    ("Ant-v5", "sac"): (0, 0)},
    "gild": {("Hopper-v5", "td3"): (0.5, 0.7), ("Hopper-v5", "sac"): (0.2, 0.4), ("Ant-v5", "td3"): (1, 1),
             ("Ant-v5", "sac"): (0, 0.3)},
    "logo": {("Hopper-v5", "trpo"): (0.6, 0.6), ("Ant-v5", "trpo"): (0, 0)},
}


def write_events(run_dir, **tags):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run_dir / "tensorboard"))
    for tag, values in tags.items():
        for i, value in enumerate(values):
            writer.add_scalar(f"gild/{tag}", value, 1100 + 100 * i)
    writer.close()


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid")
    for setting, cells in SCORES.items():
        for (task, algorithm), scores in cells.items():
            for seed, score in enumerate(scores):
                sparse = [0.0] + [100 * score] * 3  # the final return is the mean of the last 3 evaluations
                write_run(root, setting, seed, [500.0, 600.0, 700.0, 800.0], sparse, task=task, algorithm=algorithm,
                          demonstrator=1000.0, demonstrator_sparse=100.0)
    gild = root / "Hopper-v5" / "td3" / "gild" / "seed0"
    write_events(gild, meta_step=[1, 1, 1, 1, 1], gild_output_std=[1e-2, 1e-4, 1e-7, 1e-8, 1e-9],
                 meta_grad_norm=[1e-3, 1e-5, 0.0, 0.0, 0.0], gild_bc_cosine=[0.9, 0.5, 0.1, 0.0, -0.2])
    (gild / "result.json").write_text(json.dumps({"first_reward_frame": 2500}))
    write_events(root / "Hopper-v5" / "td3" / "meta_critic" / "seed0", meta_step=[1, 1, 1, 1, 1],
                 aux_output_std=[0.5, 0.4, 0.3, 0.2, 0.1], meta_grad_norm=[1e-3, 1e-3, 1e-3, 1e-3, 1e-3])
    (root / "analysis").mkdir()
    return root, grid_report(load_study(root).runs, root / "analysis", reps=200)


def test_cells_read_the_normalised_scores_and_the_command(grid):
    _, result = grid
    rows = {(r["task"], r["algorithm"], r["setting"]): r for r in result["cell_rows"]}
    assert len(rows) == 4 * 3 + 2
    hopper = rows[("Hopper-v5", "td3", "gild")]
    assert hopper["normalised_sparse_by_seed"] == pytest.approx([0.5, 0.7]) and hopper["normalised_sparse"] == pytest.approx(0.6)
    assert hopper["final_dense"] == pytest.approx(700.0) and hopper["normalised_dense"] == pytest.approx(0.7)
    assert hopper["first_sparse_eval_frames"] == 2000 and math.isnan(hopper["frames_to_demonstrator_sparse"])
    assert rows[("Ant-v5", "td3", "gild")]["frames_to_demonstrator_sparse"] == 2000  # reaches 100 at its 2nd evaluation
    assert rows[("Ant-v5", "sac", "gild")]["runs_with_sparse_eval"] == 1
    assert hopper["command"] == "python recipes/study.py study=grid env.name=Hopper-v5 algorithm=td3 setting=gild seed=0,1"


def test_aggregates_are_rliables_iqm_and_mean_over_all_runs_of_a_setting(grid):
    _, result = grid
    rows = {r["setting"]: r for r in result["aggregate_rows"]}
    assert (rows["gild"]["runs"], rows["gild"]["cells"], rows["logo"]["runs"], rows["logo"]["cells"]) == (8, 4, 4, 2)
    gild = rows["gild"]
    assert gild["mean"] == pytest.approx(4.1 / 8) and gild["iqm"] == pytest.approx((0.3 + 0.4 + 0.5 + 0.7) / 4)
    assert gild["iqm_low"] <= gild["iqm"] <= gild["iqm_high"] and gild["mean_low"] < gild["mean"] < gild["mean_high"]
    assert (rows["rl"]["iqm"], rows["rl"]["iqm_low"], rows["rl"]["iqm_high"], rows["rl"]["mean_high"]) == (0, 0, 0, 0)


def test_gild_against_each_setting_probability_of_improvement_and_cells_won_on_every_seed(grid):
    _, result = grid
    rows = {r["baseline"]: r for r in result["comparison_rows"]}
    assert set(rows) == {"rl", "meta_critic", "logo"}
    # per cell, P(X > Y) counts ties as half: (1 + 1 + 1 + 0.75) / 4 against rl
    assert rows["rl"]["probability_of_improvement"] == pytest.approx(0.9375)
    assert rows["meta_critic"]["probability_of_improvement"] == pytest.approx((0.5 + 0.5 + 1 + 0.75) / 4)
    assert rows["logo"]["probability_of_improvement"] == pytest.approx((0.5 + 0 + 1 + 0.75) / 4)  # LOGO's run of the task
    assert rows["logo"]["cells"] == 4
    for row in rows.values():
        assert row["poi_low"] <= row["probability_of_improvement"] <= row["poi_high"]
    wins = {b: (r["cells_gild_better_every_seed"], r["cells_gild_worse_every_seed"]) for b, r in rows.items()}
    assert wins == {"rl": (3, 0), "meta_critic": (1, 0), "logo": (1, 1)}


def test_the_census_reads_when_each_learned_loss_vanished(grid):
    root, result = grid
    rows = {r["setting"]: r for r in result["census_rows"]}
    assert set(rows) == {"gild", "meta_critic"}  # only the runs that logged their diagnostics
    gild, critic = rows["gild"], rows["meta_critic"]
    assert (gild["first_meta_step_frames"], gild["last_meta_step_frames"]) == (1100, 1500)
    assert (gild["output_std_vanished_frames"], gild["meta_grad_zero_frames"]) == (1300, 1300)
    assert gild["bc_cosine_at_end"] == pytest.approx(-0.2) and gild["first_reward_frames"] == 2500
    assert gild["vanished_in_warm_start"] and gild["learned_loss"] == "GILD"
    assert math.isnan(critic["output_std_vanished_frames"]) and math.isnan(critic["meta_grad_zero_frames"])
    assert math.isnan(critic["bc_cosine_at_end"]) and not critic["vanished_in_warm_start"]
    assert critic["output_std_at_end"] == pytest.approx(0.1) and critic["spread_logged"] and gild["spread_logged"]
    text = (root / "analysis" / "grid.md").read_text()
    assert "| Hopper-v5 | td3 | gild | 0 | 1.1k - 1.5k | 1.3k | 1e-09 | 1.3k | -0.20 | 2.5k |" in text
    assert "gild: the learned loss's spread fell below 1e-06 while it was meta-learned in 1 of 1 cells" in text
    assert "| gild | 8 | 4 | 0.475 [" in text
    for name in ("grid_sparse", "grid_dense", "aggregates"):
        assert (root / "analysis" / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
