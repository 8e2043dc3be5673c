"""``logger.backend`` takes TorchRL's logger kinds through its own factory; every kind gets the same
tags, written offline (wandb in offline mode, mlflow to a local file store)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gild_torchrl import training

ROOT = Path(__file__).resolve().parents[1]
TINY = ["env.name=PointNav", "collector.total_frames=400", "collector.init_random_frames=200",
        "collector.frames_per_batch=100", "eval.interval=200", "eval.episodes=2", "network.hidden_sizes=[16,16]",
        "replay_buffer.batch_size=32", "demos.batch_size=32", "demos.pointnav_episodes=3", "logger.progress_bar=false",
        "loss.diagnostics_interval=10"]


def train_with(backend: str, run_dir: Path) -> None:
    with initialize_config_dir(config_dir=str(ROOT / "recipes" / "config"), version_base="1.3"):
        training.train(compose("td3_gild", [*TINY, f"logger.backend={backend}", f"run_dir={run_dir}"]))


def files_as_tags(directory: Path, suffix: str = "") -> set[str]:
    return {str(p.relative_to(directory))[: len(str(p.relative_to(directory))) - len(suffix)]
            for p in directory.rglob(f"*{suffix}") if p.is_file()}


@pytest.fixture(scope="module")
def tensorboard_tags(tmp_path_factory) -> set[str]:
    run_dir = tmp_path_factory.mktemp("tb") / "run"
    train_with("tensorboard", run_dir)
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss_actor", "train/loss_gild", "gild/meta_utility", "eval/dense_return", "throughput/frames_per_s"} <= tags
    return tags


def test_csv_logger_writes_the_same_tags(tmp_path, tensorboard_tags):
    train_with("csv", tmp_path / "run")
    scalars = tmp_path / "run" / "csv_logs" / "scalars"
    assert files_as_tags(scalars, ".csv") == tensorboard_tags
    rows = (scalars / "eval" / "dense_return.csv").read_text().splitlines()
    assert [int(row.split(",")[0]) for row in rows] == [200, 400]


def test_wandb_offline_logger_writes_the_same_tags(tmp_path, monkeypatch, tensorboard_tags):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    import time

    import wandb

    train_with("wandb", tmp_path / "run")
    wandb.teardown()  # wandb's service process writes the file; this waits for it to stop
    (log,) = (tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb")
    deadline = time.monotonic() + 30  # and, on a loaded machine, for its last block to reach the disk
    while True:
        data = log.read_bytes()  # the run's records: protobuf, its keys as plain UTF-8
        missing = sorted(t for t in tensorboard_tags if t.encode() not in data)
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not missing, missing


def test_mlflow_logger_writes_the_same_tags_to_a_local_file_store(tmp_path, tensorboard_tags):
    train_with("mlflow", tmp_path / "run")
    (metrics,) = (tmp_path / "run" / "mlflow").glob("*/*/metrics")
    assert files_as_tags(metrics) == tensorboard_tags
    steps = [int(line.split()[2]) for line in (metrics / "eval" / "dense_return").read_text().splitlines()]
    assert steps == [200, 400]


def test_an_unknown_logger_backend_is_one_sentence(tmp_path):
    with initialize_config_dir(config_dir=str(ROOT / "recipes" / "config"), version_base="1.3"):
        cfg = compose("td3_gild", [*TINY, "logger.backend=visdom", f"run_dir={tmp_path}"])
    with pytest.raises(training.ConfigError, match=r"logger.backend='visdom'; expected one of \('tensorboard', 'csv', 'wandb', 'mlflow'\) or null"):
        training.check_config(cfg)
