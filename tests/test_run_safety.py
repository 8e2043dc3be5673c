"""A run directory that cannot be lost: resumed where it lies, saved when stopped, written once,
refused when damaged, written by one process at a time."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_recipes import TINY, compose_config, run_in_process, run_recipe

from gild_torchrl import training
from gild_torchrl.training import checkpoint as checkpoints
from gild_torchrl.training import run_guard
from gild_torchrl.training.provenance import read_launches

ROOT = Path(__file__).resolve().parents[1]
#: A run long enough to be stopped in its loop (PointNav, tiny networks: a batch of 100 frames is a fraction of a second).
LONG = [o for o in TINY if not o.startswith("collector.total_frames")] + ["collector.total_frames=50000"]


def snapshot(run_dir: Path) -> dict[str, str]:
    """Every file of a run directory and a digest of its bytes."""
    return {p.relative_to(run_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run_dir.rglob("*")) if p.is_file()}


def eval_frames(run_dir: Path) -> list[int]:
    with (run_dir / "eval.csv").open() as f:
        return [int(row["frames"]) for row in csv.DictReader(f)]


def resume(run_dir: Path, capsys, extend_to: int | None = None) -> subprocess.CompletedProcess:
    """``resume=<run_dir>`` in this process, as the command line (or a study, with ``extend_to``) gives it."""
    cfg = compose_config("td3_gild", [f"resume={run_dir}"])
    capsys.readouterr()
    try:
        training.run(cfg, extend_to=extend_to)
        code = 0
    except SystemExit as exit:
        code = exit.code
    out = capsys.readouterr()
    return subprocess.CompletedProcess(["resume"], code, out.out, out.err)


def launch(run_dir: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RL_WARNINGS": "False"}
    return subprocess.Popen([sys.executable, str(ROOT / "recipes" / "td3_gild.py"), *LONG, f"run_dir={run_dir}", *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_training(proc: subprocess.Popen, run_dir: Path) -> None:
    """Until the run is in its loop: its first evaluation row is written."""
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (run_dir / "eval.csv").is_file() and len((run_dir / "eval.csv").read_text().splitlines()) > 1:
            return
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"the run did not reach its loop: {proc.communicate()[1][-2000:]}")


def test_a_copied_or_moved_run_resumes_where_it_lies_and_writes_nowhere_else(tmp_path, capsys):
    original = tmp_path / "original"
    assert run_in_process("td3_gild", [*TINY, "checkpoint.interval=200", f"run_dir={original}"], capsys).returncode == 0
    before = snapshot(original)
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)

    resumed = resume(copy, capsys, extend_to=600)
    assert resumed.returncode == 0, resumed.stderr
    assert snapshot(original) == before  # the original, byte for byte
    assert eval_frames(copy) == [200, 400, 600]
    assert json.loads((copy / "result.json").read_text())["frames"] == 600
    assert read_launches(copy)[-1]["config_changes"]["run_dir"] == [str(original), str(copy)]

    moved = tmp_path / "moved"
    copy.rename(moved)
    resumed = resume(moved, capsys, extend_to=800)
    assert resumed.returncode == 0, resumed.stderr
    assert eval_frames(moved) == [200, 400, 600, 800] and not copy.exists()
    assert snapshot(original) == before


def test_a_refused_launch_leaves_every_file_of_the_run_as_it_was(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert run_in_process("td3_gild", [*TINY, f"run_dir={run_dir}"], capsys).returncode == 0
    before = snapshot(run_dir)
    assert ".hydra/config.yaml" in before and "run.lock" in before

    again = run_recipe("td3_gild.py", [*TINY, "collector.total_frames=2000", f"run_dir={run_dir}"], cwd=tmp_path)
    assert again.returncode == 2
    assert again.stderr.strip().splitlines()[-1].startswith(f"error: run_dir='{run_dir}' holds another run's files")
    assert snapshot(run_dir) == before  # Hydra writes nothing there either (hydra.output_subdir: null)
    other = run_in_process("sac_gild", [f"resume={run_dir}"], capsys)
    assert other.returncode == 2 and "holds a td3 run; this recipe runs sac" in other.stderr
    assert snapshot(run_dir) == before


@pytest.mark.parametrize("damaged", ["state.pt", "memmap"])
def test_a_damaged_checkpoint_is_refused_naming_the_file_and_the_previous_one_is_used(tmp_path, capsys, damaged):
    run_dir = tmp_path / "run"
    assert run_in_process("td3_gild", [*TINY, "checkpoint.interval=200", f"run_dir={run_dir}"], capsys).returncode == 0
    assert checkpoints.read_progress(run_dir / "checkpoint.old").frames == 200  # the previous complete checkpoint is kept
    newest = run_dir / "checkpoint"
    file = newest / "state.pt" if damaged == "state.pt" else max(newest.rglob("*.memmap"), key=lambda p: p.stat().st_size)
    with file.open("r+b") as f:
        f.truncate(100)

    resumed = resume(run_dir, capsys, extend_to=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{file} has 100 bytes where" in resumed.stdout
    assert f"using the previous checkpoint {run_dir / 'checkpoint.old'} instead" in resumed.stdout
    assert eval_frames(run_dir) == [200, 400, 600]
    assert [(x["from_frames"], x["total_frames"]) for x in read_launches(run_dir)] == [(0, 400), (200, 600)]

    for name in ("checkpoint", "checkpoint.old"):  # both damaged: refused, naming the newest's file
        with (run_dir / name / "state.pt").open("r+b") as f:
            f.truncate(100)
    refused = resume(run_dir, capsys, extend_to=800)
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith(f"error: {run_dir / 'checkpoint' / 'state.pt'} has 100 bytes where ")
    assert line.endswith("there is no earlier complete one to fall back to.")


def test_a_checkpoint_without_a_manifest_with_a_truncated_state_file_is_one_sentence(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert run_in_process("td3_gild", [*TINY, "collector.total_frames=200", f"run_dir={run_dir}"], capsys).returncode == 0
    (run_dir / "checkpoint" / "manifest.json").unlink()  # as written before checkpoints had manifests
    with (run_dir / "checkpoint" / "state.pt").open("r+b") as f:
        f.truncate(100)
    refused = resume(run_dir, capsys, extend_to=400)
    assert refused.returncode == 2
    assert refused.stderr.strip() == f"error: {run_dir / 'checkpoint' / 'state.pt'} cannot be read (RuntimeError); the checkpoint is damaged."


def test_checkpoints_come_by_wall_time_too(tmp_path, capsys):
    run_dir = tmp_path / "run"
    # no checkpoint is due by frames before the end; one every 6 ms of wall time is due after every batch
    proc = run_in_process("td3_gild", [*TINY, "checkpoint.minutes=0.0001", f"run_dir={run_dir}"], capsys)
    assert proc.returncode == 0
    assert checkpoints.read_progress(run_dir / "checkpoint").frames == 400
    assert checkpoints.read_progress(run_dir / "checkpoint.old").frames == 300
    bad = run_in_process("td3_gild", [*TINY, "checkpoint.minutes=0", f"run_dir={tmp_path / 'other'}"], capsys)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: checkpoint.minutes=0; expected a positive number of minutes or null."


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_finishes_the_batch_writes_a_checkpoint_and_says_how_to_continue(tmp_path, capsys, sig, code):
    run_dir = tmp_path / "run"
    proc = launch(run_dir)
    wait_for_training(proc, run_dir)
    if sig == signal.SIGTERM:  # meanwhile: a second writer is refused, naming the first; a study skips the run
        assert run_guard.holder(run_dir) == proc.pid
        second = run_in_process("td3_gild", [*TINY, "overwrite=true", f"run_dir={run_dir}"], capsys)
        assert second.returncode == 2
        assert second.stderr.strip() == (f"error: run_dir='{run_dir}' is being written by process {proc.pid} (it holds "
                                          f"run.lock); wait for that run to end or stop it, then launch again.")
        from gild_torchrl.training.study import study_job
        from hydra import compose, initialize_config_dir

        with initialize_config_dir(config_dir=str(ROOT / "recipes" / "config"), version_base="1.3"):
            cfg = compose("study", ["env.name=PointNav", "study.cells=[]", f"run_dir={run_dir}"])
        cfg.setting = "gild"  # what Hydra's runtime resolves in a real study
        study_job(cfg)
        assert f"being written by process {proc.pid}, skipped" in capsys.readouterr().out
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-2000:]
    frames = checkpoints.read_progress(run_dir / "checkpoint").frames
    assert err.strip().splitlines()[-1] == (f"stopped by {sig.name} at {frames} frames, checkpoint written; continue with: "
                                            f"python {ROOT / 'recipes' / 'td3_gild.py'} resume={run_dir}")
    assert "Traceback" not in err and not (run_dir / "result.json").exists()
    assert frames % 100 == 0 and max(eval_frames(run_dir)) <= frames  # at a batch's end

    resumed = resume(run_dir, capsys, extend_to=frames + 200)
    assert resumed.returncode == 0, resumed.stderr
    assert f"done: {frames + 200} frames" in resumed.stdout
    assert eval_frames(run_dir)[-1] == frames + 200


def test_a_second_interrupt_stops_at_once(tmp_path):
    run_dir = tmp_path / "run"
    proc = launch(run_dir, "checkpoint.interval=0")
    wait_for_training(proc, run_dir)
    proc.send_signal(signal.SIGINT)
    assert "SIGINT: finishing the batch in progress" in proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] in ("SIGINT again: stopping now, without a checkpoint.",
                                            # the batch may have ended before the second signal came
                                            f"stopped by SIGINT at {max(eval_frames(run_dir))} frames without a checkpoint "
                                            f"(checkpoint.interval=0); python {ROOT / 'recipes' / 'td3_gild.py'} "
                                            f"resume={run_dir} starts it again from frame 0")


def test_a_killed_run_leaves_no_lock_and_resumes_from_frame_0_when_it_had_no_checkpoint(tmp_path, capsys):
    run_dir = tmp_path / "run"
    proc = launch(run_dir)
    wait_for_training(proc, run_dir)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert run_guard.holder(run_dir) is None
    assert checkpoints.find(run_dir) is None and (run_dir / "eval.csv").is_file()
    recorded = (run_dir / ".hydra" / "config.yaml").read_text()

    # a new launch names a command that works, and deletes nothing
    refused = run_in_process("td3_gild", [*TINY, f"run_dir={run_dir}"], capsys)
    assert refused.returncode == 2 and f"continue it with resume={run_dir}," in refused.stderr
    resumed = resume(run_dir, capsys, extend_to=400)
    assert resumed.returncode == 0, resumed.stderr
    assert "was stopped before its first checkpoint: it starts again from frame 0 with its config" in resumed.stdout
    assert eval_frames(run_dir) == [200, 400]
    launches = read_launches(run_dir)
    assert [(x["from_frames"], x["total_frames"]) for x in launches] == [(0, 50000), (0, 400)]
    assert launches[1]["config_changes"] == {"collector.total_frames": [50000, 400]}
    assert "total_frames: 400" in (run_dir / ".hydra" / "config.yaml").read_text() and "50000" in recorded


def test_the_progress_bar_is_drawn_on_a_terminal_that_reports_no_width(monkeypatch):
    import select

    from tqdm import tqdm

    from gild_torchrl.training.session import bar_size

    leader, follower = os.openpty()  # a new terminal reports 0 columns until someone sets its size
    try:
        with os.fdopen(follower, "w", closefd=False) as terminal:
            monkeypatch.setattr(sys, "stdout", terminal)  # tqdm sizes a bar on stdout to its terminal: a blank line here
            assert os.get_terminal_size(follower).columns == 0 and bar_size(sys.stdout) == {"ncols": 80, "nrows": 24}
            bar = tqdm(total=10, unit="frames", file=sys.stdout, **bar_size(sys.stdout))  # as the loop makes it
            bar.update(5)
            bar.close()
            monkeypatch.undo()
        shown = b""
        while select.select([leader], [], [], 0.5)[0]:
            shown += os.read(leader, 4096)
        assert "5/10" in shown.decode()
    finally:
        os.close(leader)
        os.close(follower)
    with open(os.devnull, "w") as not_a_terminal:
        assert bar_size(not_a_terminal) == {}
