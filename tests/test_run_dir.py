"""A new run never writes into a directory that holds another run's files."""

from __future__ import annotations

from test_recipes import TINY, read_eval_csv, run_in_process


def test_a_second_run_into_the_same_directory_stops_unless_asked_to_overwrite(tmp_path, capsys):
    run_dir = tmp_path / "run"
    first = run_in_process("td3_gild", [*TINY, "loss.objective=rl", f"run_dir={run_dir}"], capsys)
    assert first.returncode == 0, first.stderr[-2000:]
    rows = read_eval_csv(run_dir)

    second = run_in_process("td3_gild", [*TINY, "loss.objective=rl", "collector.total_frames=600", f"run_dir={run_dir}"], capsys)
    assert second.returncode == 2
    last = second.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: run_dir='{run_dir}' holds another run's files (eval.csv, run.json, result.json, tensorboard")
    assert last.endswith(f"continue it with resume={run_dir}, give another run_dir, or pass overwrite=true to replace it.")
    assert read_eval_csv(run_dir) == rows  # untouched

    third = run_in_process("td3_gild", [*TINY, "loss.objective=rl", "collector.total_frames=600", f"run_dir={run_dir}",
                                        "overwrite=true"], capsys)
    assert third.returncode == 0, third.stderr[-2000:]
    assert [int(r["frames"]) for r in read_eval_csv(run_dir)] == [200, 400, 600]  # only the new run's rows
