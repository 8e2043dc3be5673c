"""A run killed after a checkpoint and resumed is the run it continues: the same evaluation rows
and the same logged losses as the run that was never interrupted."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gild_torchrl import training

ROOT = Path(__file__).resolve().parents[1]
TASKS = {
    "PointNav": ["env.name=PointNav", "collector.total_frames=800", "collector.init_random_frames=200",
                 "collector.frames_per_batch=100", "eval.interval=200", "checkpoint.interval=400",
                 "demos.pointnav_episodes=3"],
    "Hopper-v5": ["env.name=Hopper-v5", "collector.total_frames=1600", "collector.init_random_frames=400",
                  "collector.frames_per_batch=100", "eval.interval=400", "checkpoint.interval=800"],
}
COMMON = ["eval.episodes=2", "network.hidden_sizes=[16,16]", "replay_buffer.batch_size=32", "demos.batch_size=32",
          "loss.diagnostics_interval=10", "logger.progress_bar=false", "seed=3"]
LOGGED = ("train/loss_actor", "train/loss_qvalue", "train/loss_gild", "gild/meta_utility", "eval/dense_return",
          "train/episode_dense_return", "train/episode_sparse_return", "train/episode_length")


class Killed(Exception):
    """Stands for the scheduler's SIGKILL: the run stops where it is, after a checkpoint."""


def config(task: str, run_dir: Path, *extra: str):
    with initialize_config_dir(config_dir=str(ROOT / "recipes" / "config"), version_base="1.3"):
        return compose("td3_gild", [*TASKS[task], *COMMON, f"run_dir={run_dir}", *extra])


def eval_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "eval.csv").open() as f:
        return [{k: v for k, v in row.items() if k != "wall_time"} for row in csv.DictReader(f)]


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in LOGGED if tag in events.Tags()["scalars"]}


@pytest.mark.parametrize("task", list(TASKS))
def test_a_killed_and_resumed_run_repeats_the_uninterrupted_run(tmp_path, task):
    whole = tmp_path / "whole"
    training.train(config(task, whole))

    killed = tmp_path / "killed"
    checkpoint_frames = int(next(o for o in TASKS[task] if o.startswith("checkpoint.interval")).split("=")[1])

    def kill_after_the_checkpoint(loss_module, row) -> bool:
        if row["frames"] > checkpoint_frames:  # one evaluation past the checkpoint: its rows must not survive
            raise Killed
        return False

    with pytest.raises(Killed):
        training.train(config(task, killed), on_evaluation=kill_after_the_checkpoint)
    assert max(int(r["frames"]) for r in eval_rows(killed)) > checkpoint_frames
    training.run(config(task, killed, f"resume={killed}"))

    assert eval_rows(killed) == eval_rows(whole)
    logged, expected = scalars(killed), scalars(whole)
    assert set(logged) == set(expected) and {"train/loss_actor", "train/loss_gild"} <= set(expected)
    for tag in expected:
        assert logged[tag] == expected[tag], tag


def test_a_runs_first_frames_do_not_depend_on_its_budget(tmp_path):
    """What lets one study read another's longer runs at a smaller budget (demo_quality reads the
    long study's bundled-set runs at 100k frames): a run of 1,600 frames passes through the same
    evaluations and losses as the run of 800 frames, up to 800."""
    short, long = tmp_path / "short", tmp_path / "long"
    training.train(config("Hopper-v5", short, "+setting=gild", "collector.total_frames=800"))
    training.train(config("Hopper-v5", long, "+setting=gild"))

    shared = eval_rows(short)
    assert [int(r["frames"]) for r in shared] == [400, 800]
    assert eval_rows(long)[:len(shared)] == shared
    logged, expected = scalars(long), scalars(short)
    assert {"train/loss_actor", "train/loss_gild"} <= set(expected)
    for tag in expected:
        assert logged[tag][:len(expected[tag])] == expected[tag], tag
