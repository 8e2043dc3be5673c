"""A study's record (gild_torchrl.analysis.record): saved, restored on a bare machine, skipped by the
relaunched study and analysed to the same table and diagnostics."""

from __future__ import annotations

import shutil

import numpy as np
from test_study import IN_PROCESS, run_study

from gild_torchrl.analysis import analyse, load_study
from gild_torchrl.analysis.record import MAX_POINTS, RECORDED_TAGS, main, thin


def test_a_recorded_study_restored_on_a_bare_machine_is_skipped_and_analysed_the_same(tmp_path):
    run_study(tmp_path, IN_PROCESS, "setting=rl,gild")
    study_dir, record_dir = tmp_path / "study", tmp_path / "record"
    analyse(study_dir, reps=100)
    table = (study_dir / "analysis" / "results.csv").read_text()
    gild = next(run for run in load_study(study_dir).runs if run.setting == "gild")
    logged = {tag: gild.scalars(tag) for tag in RECORDED_TAGS}
    assert logged["gild/meta_grad_norm"][0].size >= 2 and logged["gild/rewarded_transitions"][0].size >= 2

    assert main(["save", str(study_dir), str(record_dir)]) == 0
    assert sorted(p.name for p in record_dir.iterdir()) == ["PointNav_td3_gild_seed0", "PointNav_td3_rl_seed0"]
    assert sorted(p.name for p in (record_dir / "PointNav_td3_gild_seed0").iterdir()) == [
        "diagnostics.csv", "eval.csv", "provenance.jsonl", "result.json", "run.json"]

    launches = (gild.path / "provenance.jsonl").read_text()
    assert launches.count("\n") == 1 and '"from_frames": 0' in launches

    shutil.rmtree(study_dir)  # the machine is lost: events, checkpoints and Hydra's files with it
    assert main(["restore", str(record_dir), str(study_dir)]) == 0
    restored = next(run for run in load_study(study_dir).runs if run.setting == "gild")
    assert (restored.path / "provenance.jsonl").read_text() == launches
    assert not (restored.path / "tensorboard").exists()
    for tag, (steps, values) in logged.items():
        np.testing.assert_array_equal(restored.scalars(tag)[0], steps)
        np.testing.assert_array_equal(restored.scalars(tag)[1], values)
    analyse(study_dir, reps=100)
    assert (study_dir / "analysis" / "results.csv").read_text() == table

    again = run_study(tmp_path, IN_PROCESS, "setting=rl,gild")
    assert again.stdout.count("finished earlier, skipped") == 2, again.stdout


def test_restore_leaves_a_run_the_study_holds_and_says_what_is_wrong_in_one_line(tmp_path, capsys):
    from test_analysis import write_run

    study_dir, record_dir = tmp_path / "study", tmp_path / "record"
    write_run(study_dir, "rl", 0, [1, 2], [0, 1])
    assert main(["save", str(study_dir), str(record_dir)]) == 0
    # a run without events or diagnostics (a record written before them) is recorded without them
    assert sorted(p.name for p in (record_dir / "Hopper-v5_td3_rl_seed0").iterdir()) == ["eval.csv", "result.json", "run.json"]
    (study_dir / "Hopper-v5" / "td3" / "rl" / "seed0" / "eval.csv").write_text("frames\n")  # the study's own, newer
    assert main(["restore", str(record_dir), str(study_dir)]) == 0
    assert "1 were there already, left as they were" in capsys.readouterr().out
    assert (study_dir / "Hopper-v5" / "td3" / "rl" / "seed0" / "eval.csv").read_text() == "frames\n"

    assert main(["restore", str(tmp_path / "nowhere"), str(study_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nowhere: no such directory" in err and len(err.splitlines()) == 1
    (record_dir / "Hopper-v5_td3_rl_seed0" / "result.json").unlink()
    assert main(["restore", str(record_dir), str(tmp_path / "other")]) == 2
    assert "has no result.json: a record holds finished runs only" in capsys.readouterr().err


def test_a_tag_logged_at_every_batch_is_thinned_evenly_keeping_its_ends():
    steps = np.arange(10, 120_010, 10, dtype=float)  # 12,000 batches of 10 frames
    values = np.cumsum(np.ones_like(steps))
    kept_steps, kept_values = thin(steps, values)
    assert kept_steps.size == MAX_POINTS
    assert (kept_steps[0], kept_steps[-1]) == (10, 120_000) and np.all(np.diff(kept_steps) > 0)
    np.testing.assert_array_equal(kept_values, values[(kept_steps / 10 - 1).astype(int)])  # points of the curve
    assert np.diff(kept_steps).max() <= 30  # evenly spread: no gap of more than 3 batches
    short = np.arange(5.0)
    assert thin(short, short)[0] is short  # a curve of fewer points is kept whole
