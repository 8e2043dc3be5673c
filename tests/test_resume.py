"""Checkpoints and resume: a run killed after a checkpoint continues to its frame count, losing nothing."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from test_recipes import run_in_process

ROOT = Path(__file__).resolve().parents[1]
RUN = [
    "env.name=PointNav",
    "collector.total_frames=2400",
    "collector.init_random_frames=200",
    "collector.frames_per_batch=100",
    "eval.interval=400",
    "eval.episodes=2",
    "checkpoint.interval=800",
    "network.hidden_sizes=[16,16]",
    "replay_buffer.batch_size=32",
    "demos.batch_size=32",
    "demos.pointnav_episodes=3",
    "logger.progress_bar=false",
]


def recipe(script: str, args: list[str], **kwargs):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RL_WARNINGS": "False"}
    return subprocess.Popen([sys.executable, str(ROOT / "recipes" / script), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def checkpoint_frames(run_dir: Path) -> int | None:
    path = run_dir / "checkpoint"
    if not (path / "COMPLETE").is_file():
        return None
    return torch.load(path / "state.pt", map_location="cpu", weights_only=False)["progress"]["frames"]


def test_killed_run_resumes_to_its_frame_count_without_losing_or_repeating_anything(tmp_path):
    run_dir = tmp_path / "run"
    proc = recipe("td3_gild.py", [*RUN, f"run_dir={run_dir}"])
    deadline = time.time() + 240
    while checkpoint_frames(run_dir) is None and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    killed_at = checkpoint_frames(run_dir)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert killed_at == 800, "the run should be killed after its first checkpoint"

    start = time.perf_counter()
    resumed = recipe("td3_gild.py", [f"resume={run_dir}"])
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-2000:]
    assert "done: 2400 frames, 2200 updates" in out, out
    print(f"resumed from {killed_at} frames in {time.perf_counter() - start:.1f}s")

    with (run_dir / "eval.csv").open() as f:
        frames = [int(row["frames"]) for row in csv.DictReader(f)]
    assert frames == [400, 800, 1200, 1600, 2000, 2400]
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    steps = [e.step for e in events.Scalars("eval/dense_return")]
    assert steps == [400, 800, 1200, 1600, 2000, 2400]
    loss_steps = [e.step for e in events.Scalars("train/loss_qvalue")]
    assert loss_steps == sorted(set(loss_steps)) and loss_steps[-1] == 2400

    state = torch.load(run_dir / "checkpoint" / "state.pt", map_location="cpu", weights_only=False)
    assert state["progress"]["frames"] == 2400 and state["progress"]["updates"] == 2200
    from torchrl.data import LazyTensorStorage, TensorDictReplayBuffer

    buffer = TensorDictReplayBuffer(storage=LazyTensorStorage(2400), batch_size=8)
    buffer.loads(run_dir / "checkpoint" / "replay_buffer")
    assert len(buffer) == 2400


def test_half_written_checkpoint_is_never_loaded(tmp_path, capsys):
    run_dir = tmp_path / "run"
    proc = run_in_process("td3_gild", [*RUN, "collector.total_frames=800", f"run_dir={run_dir}"], capsys)
    assert proc.returncode == 0
    # a crash mid-write leaves checkpoint.tmp; a crash between the renames leaves only checkpoint.old
    (run_dir / "checkpoint").rename(run_dir / "checkpoint.old")
    (run_dir / "checkpoint.tmp").mkdir()
    (run_dir / "checkpoint.tmp" / "state.pt").write_bytes(b"half a file")
    resumed = run_in_process("td3_gild", [f"resume={run_dir}"], capsys)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "already finished at 800 frames" in resumed.stdout

    shutil.rmtree(run_dir / "checkpoint.old")
    resumed = run_in_process("td3_gild", [f"resume={run_dir}"], capsys)
    assert resumed.returncode == 2
    assert resumed.stderr.strip().splitlines()[-1] == f"error: resume='{run_dir}' holds no complete checkpoint to continue from."


def test_resume_refuses_a_checkpoint_of_another_algorithm(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_in_process("td3_gild", [*RUN, "collector.total_frames=400", f"run_dir={run_dir}"], capsys)
    eval_rows = (run_dir / "eval.csv").read_text()
    resumed = run_in_process("sac_gild", [f"resume={run_dir}"], capsys)
    assert resumed.returncode == 2
    assert "holds a td3 run; this recipe runs sac" in resumed.stderr.strip().splitlines()[-1]
    assert (run_dir / "eval.csv").read_text() == eval_rows


@pytest.mark.parametrize("recipe_name", ["sac_gild", "ddpg_gild"])
def test_every_algorithm_restores_its_checkpoint(tmp_path, capsys, recipe_name):
    run_dir = tmp_path / "run"
    proc = run_in_process(recipe_name, [*RUN, "collector.total_frames=400", f"run_dir={run_dir}"], capsys)
    assert proc.returncode == 0, proc.stderr[-2000:]
    resumed = run_in_process(recipe_name, [f"resume={run_dir}"], capsys)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "already finished at 400 frames" in resumed.stdout
