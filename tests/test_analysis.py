"""gild_torchrl.analysis on synthetic runs whose answers are known."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest

from gild_torchrl.analysis import analyse, load_study
from gild_torchrl.analysis.__main__ import StudyWarning, main
from gild_torchrl.training.grid import find_cell, study_runs
from gild_torchrl.analysis.metrics import (
    final_return,
    first_frame_above,
    first_frame_staying_below,
    frames_to_first_sparse_reward,
    iqm_interval,
    mean_curve_interval,
    normalised_auc,
)
from gild_torchrl.analysis.table import markdown, results_rows

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_run(root: Path, setting: str, seed: int, dense, sparse, task="Hopper-v5", algorithm="td3",
              finished=True, interval=1000, mse=None, demonstrator=1300.0, wall=None, demonstrator_sparse=None) -> Path:
    run_dir = root / task / algorithm / setting / f"seed{seed}"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({
        "task": task, "algorithm": algorithm, "setting": setting, "objective": setting, "seed": seed,
        "total_frames": interval * len(dense), "eval_interval": interval,
        "demonstrator_dense_return": demonstrator, "demonstrator_sparse_return": demonstrator_sparse,
    }))
    with (run_dir / "eval.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["frames", "updates", "wall_time", "dense_return", "sparse_return", "length", "x_final",
                         "demo_action_mse", "demo_nll"])
        for i, (d, s) in enumerate(zip(dense, sparse)):
            writer.writerow([interval * (i + 1), 0, 0.0 if wall is None else wall[i], d, s, 100, 0.0, "" if mse is None else mse[i], ""])
    if finished:
        (run_dir / "result.json").write_text("{}")
    return run_dir


def test_curve_scores_match_hand_computations():
    frames = np.array([1000, 2000, 3000, 4000])
    dense = np.array([0.0, 100.0, 300.0, 200.0])
    assert final_return(dense) == pytest.approx((100 + 300 + 200) / 3)
    assert final_return(dense, last=1) == 200.0
    # trapezoids: (0+100)/2*1000 + (100+300)/2*1000 + (300+200)/2*1000 = 500,000 over 3,000 frames
    assert normalised_auc(frames, dense) == pytest.approx(500_000 / 3000)
    assert first_frame_above(frames, dense, 250.0) == 3000
    assert math.isnan(first_frame_above(frames, dense, 301.0))
    assert frames_to_first_sparse_reward(frames, np.array([0.0, 0.0, 0.5, 0.0])) == 3000
    assert math.isnan(frames_to_first_sparse_reward(frames, np.zeros(4)))


def test_iqm_and_its_interval_from_rliable():
    scores = np.array([1.0, 2.0, 3.0, 4.0, 100.0, -50.0, 5.0, 6.0])
    iqm, low, high = iqm_interval(scores, reps=500, seed=0)
    # the IQM discards the lowest and highest quarter: mean of 2, 3, 4, 5
    assert iqm == pytest.approx(3.5)
    assert low <= iqm <= high
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    assert iqm_interval(scores, reps=500, seed=0) == (iqm, low, high)  # fixed seed, same interval
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # the global RNG is left as it was
    # a 95% CI of samples drawn around a known centre contains it
    rng = np.random.default_rng(0)
    samples = rng.normal(10.0, 1.0, size=40)
    _, low, high = iqm_interval(samples, reps=2000, seed=3)
    assert low < 10.0 < high
    assert high - low < 1.5


def test_mean_curve_band_contains_the_mean():
    curves = np.array([[0.0, 1.0, 2.0], [2.0, 3.0, 4.0], [1.0, 2.0, 3.0]])
    mean, low, high = mean_curve_interval(curves, reps=500, seed=0)
    np.testing.assert_allclose(mean, [1.0, 2.0, 3.0])
    assert np.all(low <= mean) and np.all(mean <= high)
    assert np.all(high - low > 0)


def test_results_table_on_a_synthetic_study(tmp_path):
    write_run(tmp_path, "rl", 0, [1000, 1000, 1000, 1000], [0, 0, 0, 0])
    write_run(tmp_path, "rl", 1, [900, 1000, 1100, 1200], [0, 0, 0, 0])
    write_run(tmp_path, "gild", 0, [1000, 1400, 1500, 1600], [0, 100, 300, 500])
    write_run(tmp_path, "gild", 1, [1000, 1000, 1350, 1250], [0, 0, 50, 10])
    rows = {r["setting"]: r for r in results_rows(load_study(tmp_path).runs, reps=200)}
    assert list(rows) == ["rl", "gild"]  # the paper's order, not alphabetical
    gild = rows["gild"]
    assert gild["final_dense_mean"] == pytest.approx(((1400 + 1500 + 1600) / 3 + (1000 + 1350 + 1250) / 3) / 2)
    assert gild["first_sparse_frames_median"] == pytest.approx((2000 + 3000) / 2)
    assert gild["runs_with_sparse_reward"] == 2
    assert gild["frames_to_demonstrator_median"] == pytest.approx((2000 + 3000) / 2)  # demonstrator at 1,300
    assert rows["rl"]["runs_with_sparse_reward"] == 0 and math.isnan(rows["rl"]["first_sparse_frames_median"])
    assert rows["rl"]["frames_to_demonstrator_median"] != rows["rl"]["frames_to_demonstrator_median"]  # nan: never
    assert rows["rl"]["final_sparse_iqm"] == 0.0
    assert rows["rl"]["runs_with_training_reward"] == 0  # neither result.json nor events record one


def test_first_reward_in_training_comes_from_result_json_or_the_events(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    finished = write_run(tmp_path, "il", 0, [1, 2], [0, 1])
    (finished / "result.json").write_text(json.dumps({"first_reward_frame": 12000}))
    running = write_run(tmp_path, "il", 1, [1, 2], [0, 1], finished=False)
    writer = SummaryWriter(str(running / "tensorboard"))
    for step in (14000, 15000):
        writer.add_scalar("gild/frames_to_first_reward", 14000, step)
    writer.close()
    write_run(tmp_path, "il", 2, [1, 2], [0, 0])
    (tmp_path / "Hopper-v5/td3/il/seed2/result.json").write_text(json.dumps({"first_reward_frame": None}))
    runs = {r.seed: r for r in load_study(tmp_path).runs}
    assert runs[0].first_reward_frame == 12000 and runs[1].first_reward_frame == 14000
    assert math.isnan(runs[2].first_reward_frame)
    row = results_rows(list(runs.values()), reps=100)[0]
    # scores use the finished runs (seeds 0 and 2): one reached a reward, at 12,000 frames
    assert (row["first_training_reward_frames_median"], row["runs_with_training_reward"]) == (12000, 1)


def test_analysis_writes_valid_figures_and_tables(tmp_path):
    for seed in range(3):
        write_run(tmp_path, "il", seed, [10, 20, 30], [0, 1, 2], mse=[0.5, 0.2, 0.1])
        write_run(tmp_path, "rl", seed, [10, 15, 12], [0, 0, 0], mse=[0.5, 0.8, 0.9])
    result = analyse(tmp_path, reps=200)
    out = tmp_path / "analysis"
    texts = {}
    for name in ("learning_curves", "divergence"):
        assert (out / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
        root = ElementTree.parse(out / f"{name}.svg").getroot()
        assert root.tag.endswith("svg")
        texts[name] = " ".join(t.strip() for t in root.itertext() if t.strip())
    # readable without the text: titles, axis labels, a legend with one entry per setting and n
    for expected in ("Hopper-v5, TD3: dense evaluation return", "Hopper-v5, TD3: sparse evaluation return",
                     "environment frames", "RL+IL (n=3)", "RL (n=3)", "demonstrator"):
        assert expected in texts["learning_curves"], expected
    assert "action MSE to the demonstrations" in texts["divergence"]
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["setting"], r["runs"]) for r in rows] == [("rl", "3"), ("il", "3")]
    assert float(rows[1]["final_dense_mean"]) == pytest.approx(20.0)
    assert "| Hopper-v5 | td3 | il | 3 |" in (out / "results.md").read_text()
    assert result["warnings"] == []


def test_partial_study_is_aggregated_with_a_warning_naming_the_missing_runs(tmp_path):
    (tmp_path / "multirun.yaml").write_text(
        "hydra:\n"
        "  sweeper:\n    params:\n      env.name: Hopper-v5\n      algorithm: td3\n      setting: rl,gild\n      seed: range(2)\n"
        "  overrides:\n    task: []\n"
        "  runtime:\n    choices:\n      setting: gild\n"
        "study:\n  cells: []\n"
    )
    write_run(tmp_path, "rl", 0, [1, 2, 3], [0, 0, 0])
    write_run(tmp_path, "rl", 1, [1, 2, 3], [0, 0, 0])
    write_run(tmp_path, "gild", 0, [1, 2], [0, 0], finished=False)  # still running
    with pytest.warns(StudyWarning) as caught:
        result = analyse(tmp_path, reps=100)
    messages = " ".join(str(w.message) for w in caught)
    assert "Hopper-v5/td3/gild/seed1" in messages  # never started
    assert "Hopper-v5/td3/gild/seed0" in messages  # not finished
    assert "Note:" in result["table"] and "gild/seed1" in result["table"]
    assert [r["setting"] for r in result["rows"]] == ["rl", "gild"]


def test_cli_reports_a_directory_without_runs_in_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "error:" in capsys.readouterr().err
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no run with an evaluation" in err


def test_cells_select_runs_and_expand_like_hydra():
    cells = [
        {"match": {"env.name": "PointNav"}},
        {"match": {"env.name": "Hopper-v5", "setting": ["rl", "gild"], "seed": [0, 1]}, "set": {"collector.total_frames": 30}},
    ]
    assert find_cell({"env.name": "Hopper-v5", "setting": "gild", "seed": "1"}, cells)["set"] == {"collector.total_frames": 30}
    assert find_cell({"env.name": "Hopper-v5", "setting": "il", "seed": "0"}, cells) is None
    assert find_cell({"env.name": "Hopper-v5", "setting": "il", "seed": "0"}, []) == {}
    runs = study_runs(["env.name=PointNav,Hopper-v5", "setting=rl,il,gild", "seed=range(3)"], {"algorithm": "td3"}, cells)
    assert len(runs) == 3 * 3 + 2 * 2
    assert "Hopper-v5/td3/gild/seed1" in runs and "Hopper-v5/td3/il/seed0" not in runs
    with pytest.raises(KeyError, match="threads"):
        find_cell({"env.name": "PointNav"}, [{"match": {"threads": 1}}])


def test_returns_at_given_frames_and_the_diagnostics_figure(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    for seed in range(2):
        run_dir = write_run(tmp_path, "gild", seed, [10, 20 + seed, 30, 40], [0, 5, 7, 9], interval=1000)
        writer = SummaryWriter(str(run_dir / "tensorboard"))
        for step in range(1000, 4001, 1000):
            writer.add_scalar("gild/meta_grad_norm", 0.1 * step, step)
            writer.add_scalar("gild/gild_bc_cosine", 0.5, step)
        writer.close()
    result = analyse(tmp_path, reps=100, at_frames=[2000, 2500, 5000])
    row = result["rows"][0]
    assert row["dense_at_2000"] == pytest.approx(20.5)   # the evaluation at 2,000 frames
    assert row["sparse_at_2500"] == pytest.approx(5.0)   # the last one at or before 2,500
    assert math.isnan(row["dense_at_5000"])              # the runs ended at 4,000
    steps, values = load_study(tmp_path).runs[0].scalars("gild/meta_grad_norm")
    np.testing.assert_allclose(steps, [1000, 2000, 3000, 4000])
    np.testing.assert_allclose(values, [100, 200, 300, 400])
    assert (tmp_path / "analysis" / "diagnostics.png").read_bytes()[:8] == PNG_MAGIC
    assert "dense / sparse at 2.0k" in (tmp_path / "analysis" / "results.md").read_text()


def test_runs_of_one_group_are_aligned_on_frames_and_unfinished_ones_are_not_scored(tmp_path):
    write_run(tmp_path, "il", 0, [10, 20, 30, 40], [0, 0, 0, 0], interval=500)   # 500 .. 2,000
    write_run(tmp_path, "il", 1, [12, 22], [0, 0], interval=1000)                # 1,000, 2,000
    write_run(tmp_path, "il", 2, [100], [0], interval=500, finished=False)       # still going
    runs = load_study(tmp_path).runs
    row = results_rows(runs, reps=100)[0]
    assert (row["runs"], row["finished"]) == (3, 2)
    assert row["final_dense_mean"] == pytest.approx(((20 + 30 + 40) / 3 + (12 + 22) / 2) / 2)  # not the 100
    line = next(l for l in markdown([row]).splitlines() if "| il |" in l)
    assert "| 3 (2 finished, scored) |" in line and "-; 0/2 |" in line and "/3" not in line  # counts out of the scored runs
    from gild_torchrl.analysis.figures import _common_curve

    frames, curves = _common_curve([r for r in runs], "dense_return")
    np.testing.assert_array_equal(frames, [1000, 2000])
    np.testing.assert_array_equal(curves, [[20, 40], [12, 22]])
    assert math.isnan(runs[0].value_at("dense_return", 400))  # before the first evaluation
    assert runs[0].value_at("dense_return", 1000) == 20


def test_malformed_run_files_are_reported_by_name_and_the_rest_is_analysed(tmp_path):
    good = write_run(tmp_path, "rl", 0, [1, 2, 3], [0, 0, 0])
    with (good / "eval.csv").open("a") as f:
        f.write("40")  # a row cut short by a kill
    bad_info = write_run(tmp_path, "rl", 1, [1, 2], [0, 0])
    (bad_info / "run.json").write_text("[]")
    bad_result = write_run(tmp_path, "rl", 2, [1, 2], [0, 0])
    (bad_result / "result.json").write_text("{not json")
    study = load_study(tmp_path)
    assert [r.seed for r in study.runs] == [0]
    np.testing.assert_array_equal(study.runs[0].frames, [1000, 2000, 3000])
    notes = " ".join(study.warnings())
    assert str(bad_info / "run.json") in notes and str(bad_result / "result.json") in notes
    with pytest.warns(StudyWarning):
        assert analyse(tmp_path, reps=100)["rows"][0]["runs"] == 1


def test_missing_runs_are_counted_against_every_launch_of_the_study(tmp_path):
    launches = [["Hopper-v5/td3/rl/seed0", "Hopper-v5/td3/rl/seed1"], ["Hopper-v5/td3/gild/seed0"]]
    (tmp_path / "launches.jsonl").write_text("".join(json.dumps({"runs": r}) + "\n" for r in launches) + "garbage\n")
    write_run(tmp_path, "rl", 0, [1, 2], [0, 0])
    study = load_study(tmp_path)
    assert study.missing == ["Hopper-v5/td3/gild/seed0", "Hopper-v5/td3/rl/seed1"]
    assert any("line 3" in note for note in study.warnings())


def test_a_longer_run_cut_at_a_budget_reads_as_the_run_of_that_budget(tmp_path):
    # two launches: the second (a resume) counts its wall time from zero again
    run_dir = write_run(tmp_path, "rl", 0, [1, 2, 3, 4, 5, 6], [0, 0, 1, 1, 2, 2], wall=[10, 20, 5, 15, 25, 35])
    (run_dir / "result.json").write_text(json.dumps({"total_wall_time": 55.0, "first_reward_frame": 2500}))
    (run,) = load_study(tmp_path).runs
    cut = run.until(4000)
    assert cut.finished and cut.total_frames == 4000
    assert cut.frames.tolist() == [1000, 2000, 3000, 4000] and cut.column("dense_return").tolist() == [1, 2, 3, 4]
    assert cut.wall_time == 20 + 15  # the first launch's 20 s, then 15 s of the second up to 4,000 frames
    assert cut.first_reward_frame == 2500
    assert math.isnan(run.until(2000).first_reward_frame)  # not yet rewarded at 2,000 frames
    assert run.until(6000) is run and run.until(9000) is run
    unfinished = write_run(tmp_path / "other", "rl", 1, [1, 2], [0, 0], finished=False, interval=1000)
    (short,) = load_study(unfinished.parents[3]).runs
    assert not short.until(4000).finished  # it has not got there yet


def test_another_studys_runs_join_on_the_same_task_algorithm_and_seeds(tmp_path):
    own, other = tmp_path / "demo_quality", tmp_path / "long"
    for seed in (0, 1):
        write_run(own, "il_noisy_demos", seed, [10, 20, 30], [0, 1, 2])
    for seed in (0, 1, 2):
        write_run(other, "rl", seed, [1, 2, 3, 400, 500, 600], [0, 0, 0, 0, 0, 0])
        write_run(other, "il", seed, [5, 5, 5, 5, 5, 5], [0, 0, 0, 0, 0, 0])
        write_run(other, "il_noisy_demos", seed, [9, 9, 9, 9, 9, 9], [0, 0, 0, 0, 0, 0])
    write_run(other, "rl", 0, [7, 7, 7], [0, 0, 0], task="Walker2d-v5")

    result = analyse(own, tmp_path / "out", reps=200, until=3000, also=[other], also_settings=["rl"])
    rows = {row["setting"]: row for row in result["rows"]}
    assert set(rows) == {"rl", "il_noisy_demos"}  # il not asked for; il_noisy_demos is the study's own
    assert (rows["rl"]["task"], rows["rl"]["runs"], rows["rl"]["finished"], rows["rl"]["frames"]) == ("Hopper-v5", 2, 2, 3000)
    assert rows["rl"]["final_dense_mean"] == pytest.approx(2.0)  # seeds 0 and 1 cut at 3,000 frames: mean of 1, 2, 3
    assert rows["il_noisy_demos"]["final_dense_mean"] == pytest.approx(20.0)

    result = analyse(own, tmp_path / "out2", reps=200, until=3000, also=[other])
    assert {row["setting"] for row in result["rows"]} == {"rl", "il", "il_noisy_demos"}
    assert main([str(own), "--until", "0"]) == 2


def test_every_setting_of_a_figure_has_its_own_colour_and_the_named_ones_keep_theirs():
    from types import SimpleNamespace

    from gild_torchrl.analysis.figures import setting_colours

    def colours(*settings):
        return setting_colours([SimpleNamespace(setting=s) for s in settings for _ in range(2)])

    variants = [f"{base}_{kind}_demos" for base in ("il", "gild_bc_first_reward") for kind in ("noisy", "negated", "weak")]
    quality = colours("rl", "il", "gild_bc_first_reward", *variants)
    assert len(set(quality.values())) == len(quality) == 9
    alone = colours("rl", "il", "gild_bc_first_reward")
    assert {s: quality[s] for s in alone} == alone  # the named settings' colours do not depend on the others
    many = colours(*(f"setting_{i}" for i in range(20)))
    assert len(set(many.values())) == 20
    ablation = colours("gild", "gild_q_value")  # a setting beside a named one does not take an absent named one's colour
    assert ablation["gild_q_value"] not in colours("rl", "il", "il_warm_start", "meta_critic", "gild", "gild_bc_first_reward").values()


def test_runs_are_grouped_by_demonstration_set_with_plain_rl_in_every_panel(tmp_path):
    from gild_torchrl.analysis.figures import demonstration_kind

    for setting in ("rl", "il", "il_noisy_demos", "gild_bc_first_reward_weak_demos"):
        write_run(tmp_path, setting, 0, [10, 20, 30], [0, 5, 7])
    runs = {run.setting: run for run in load_study(tmp_path).runs}
    assert demonstration_kind(runs["rl"]) is None                      # no demonstrations: the floor of every panel
    assert demonstration_kind(runs["il"]) == ("il", "bundled")
    assert demonstration_kind(runs["il_noisy_demos"]) == ("il", "noisy")
    assert demonstration_kind(runs["gild_bc_first_reward_weak_demos"]) == ("gild_bc_first_reward", "weak")
    analyse(tmp_path, reps=50)
    assert (tmp_path / "analysis" / "learning_curves_by_demonstrations.png").read_bytes()[:8] == PNG_MAGIC
    svg = (tmp_path / "analysis" / "learning_curves_by_demonstrations.svg").read_text()
    for title in ("bundled demonstrations", "noisy demonstrations", "weak demonstrations"):
        assert title in svg
    assert svg.count("RL (n=1)") == 3                                  # plain RL drawn in each of the three panels


def test_no_demonstration_panels_when_no_setting_varies_the_set(tmp_path):
    for setting in ("rl", "il"):
        write_run(tmp_path, setting, 0, [10, 20, 30], [0, 5, 7])
    analyse(tmp_path, reps=50)
    assert not (tmp_path / "analysis" / "learning_curves_by_demonstrations.png").exists()


def test_a_diagnostic_settles_where_it_stays_below_for_good():
    frames = np.array([100, 200, 300, 400, 500])
    assert first_frame_staying_below(frames, np.array([1.0, 1e-4, 0.5, 1e-4, 1e-5]), 1e-3) == 400  # the dip at 200 does not count
    assert first_frame_staying_below(frames, np.full(5, 1e-4), 1e-3) == 100
    assert math.isnan(first_frame_staying_below(frames, np.array([1e-4, 1e-4, 1e-4, 1e-4, 0.1]), 1e-3))
    assert math.isnan(first_frame_staying_below(frames[:0], np.zeros(0), 1e-3))


def test_the_warm_start_table_reads_when_the_gild_pull_faded(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    ratios = {"gild": [0.5, 1e-2, 1e-4, 1e-5, 1e-6], "gild_bc_first_reward": [0.9, 0.9, 0.3, 0.2, 0.1]}
    held_back = {"gild": 0, "gild_bc_first_reward": 2}  # logged steps before the first meta step
    for setting, ratio in ratios.items():
        run_dir = write_run(tmp_path, setting, 0, [10, 20, 30, 40], [0, 5, 7, 9], interval=1000)
        writer = SummaryWriter(str(run_dir / "tensorboard"))
        for i, value in enumerate(ratio):
            step = 1000 + 100 * i
            writer.add_scalar("gild/meta_step", float(i >= held_back[setting]), step)
            writer.add_scalar("gild/gild_bc_norm_ratio", value, step)
            writer.add_scalar("gild/gild_output_std", 10.0 ** -i, step)
        writer.close()
    write_run(tmp_path, "il", 0, [10, 20, 30, 40], [0, 5, 7, 9], interval=1000)  # no warm start: no row
    result = analyse(tmp_path, reps=100)
    rows = {r["setting"]: r for r in result["warm_start_rows"]}
    assert set(rows) == {"gild", "gild_bc_first_reward"}
    assert (rows["gild"]["first_meta_step_frames"], rows["gild"]["faded_frames"], rows["gild"]["faded_after_frames"]) == (1000, 1200, 200)
    assert rows["gild"]["last_logged_frames"] == 1400 and rows["gild"]["output_std_at_end"] == pytest.approx(1e-4)
    assert rows["gild"]["final_dense"] == pytest.approx(30.0)
    assert rows["gild_bc_first_reward"]["first_meta_step_frames"] == 1200
    assert math.isnan(rows["gild_bc_first_reward"]["faded_frames"])  # still pulling at 0.1 of BC's
    text = (tmp_path / "analysis" / "results.md").read_text()
    assert "| Hopper-v5 | td3 | gild | 0 | 1.0k | 1.4k | 1.2k (+0.2k) | 0.0001 | 30 / 7 |" in text
    assert "| gild_bc_first_reward | 0 | 1.2k | 1.4k | never |" in text
    with (tmp_path / "analysis" / "warm_start.csv").open() as f:
        assert [r["setting"] for r in csv.DictReader(f)] == ["gild", "gild_bc_first_reward"]


def test_settings_are_ordered_as_the_paper_lists_them_then_with_numbers_in_numeric_order():
    from gild_torchrl.analysis.table import setting_key

    settings = ["gild_ws50k", "il", "gild_ws5k", "gild", "rl", "gild_ws20k", "gild_q_value"]
    assert sorted(settings, key=setting_key) == ["rl", "il", "gild", "gild_q_value", "gild_ws5k", "gild_ws20k", "gild_ws50k"]
