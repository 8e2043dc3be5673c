"""Logging through TorchRL's own logger factory (``torchrl.record.loggers.get_logger``).

``logger.backend`` is one of TorchRL's kinds: ``tensorboard`` (the default), ``csv``, ``wandb``
(set ``WANDB_MODE=offline`` to log without a network), ``mlflow`` (a local file store under the run
directory), or null. Every backend gets the same tags: ``train/`` (losses, the base loss's metadata,
training returns), ``gild/`` (the objective's diagnostics), ``eval/``, ``throughput/`` and ``time/``.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.tensorboard import SummaryWriter
from torchrl.record.loggers import Logger, get_logger

from gild_torchrl.objectives import BaseLossWrapper
from gild_torchrl.training.config import flatten_config
from gild_torchrl.training.run_dir import LOGGER_DIRS as BACKEND_DIRS, Progress

#: Each backend's directory inside the run directory.
LOGGER_DIRS = dict(zip(("tensorboard", "csv", "wandb", "mlflow"), BACKEND_DIRS))
#: Entries of the base losses' own outputs, logged under train/ beside the losses.
BASE_METADATA = ("alpha", "entropy", "state_action_value_actor", "pred_value", "next_state_value", "target_value",
                 "target_value_max", "pred_value_max")


def make_logger(cfg: DictConfig, run_dir: Path, resume_frames: int | None = None) -> Logger | None:
    """TorchRL's logger of kind ``logger.backend`` under the run directory, with the resolved config as hparams.

    When a run resumes from a checkpoint at ``resume_frames``, what the interrupted launch logged
    after it is dropped (TensorBoard: purged; csv: rows cut), so the curves continue without
    duplicate steps; wandb and mlflow start a new run of the same name.
    """
    backend = cfg.logger.backend
    if not backend:
        return None
    name = LOGGER_DIRS[backend]
    if backend == "mlflow":
        # TorchRL's factory gives mlflow a file store (file://run_dir/mlflow); mlflow 3 asks to opt in to it
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        logger = get_logger("mlflow", logger_name=str(run_dir / name), experiment_name=cfg.logger.project)
    elif backend == "wandb":  # under run_dir/wandb; WANDB_MODE=offline logs without a network
        logger = get_logger("wandb", logger_name=str(run_dir), experiment_name=Path(run_dir).name,
                            wandb_kwargs={"project": cfg.logger.project})
    else:
        logger = get_logger(backend, logger_name=str(run_dir), experiment_name=name)
    if resume_frames is not None:
        if backend == "tensorboard":
            logger.experiment.close()
            logger.experiment = SummaryWriter(log_dir=logger.log_dir, purge_step=resume_frames + 1)
        elif backend == "csv":
            _cut_csv_scalars(Path(logger.experiment.log_dir) / "scalars", resume_frames)
        return logger
    logger.log_hparams({k: v if isinstance(v, (int, float, str, bool)) else str(v)
                        for k, v in flatten_config(OmegaConf.to_container(cfg, resolve=True)).items()})
    return logger


def flush_logger(logger: Logger | None) -> None:
    """Write what the logger buffers (before a checkpoint, and at the end)."""
    flush = getattr(getattr(logger, "experiment", None), "flush", None)
    if callable(flush):
        flush()


def close_logger(logger: Logger | None) -> None:
    flush_logger(logger)
    if logger is not None and type(logger).__name__ == "WandbLogger":
        logger.experiment.finish()
    elif logger is not None and type(logger).__name__ == "MLFlowLogger":
        import mlflow

        mlflow.end_run()


def _cut_csv_scalars(directory: Path, frames: int) -> None:
    for path in directory.rglob("*.csv") if directory.is_dir() else ():
        with path.open(newline="") as f:
            rows = [row for row in csv.reader(f) if row and int(float(row[0])) <= frames]
        with path.open("w", newline="") as f:
            csv.writer(f).writerows(rows)


def log_scalars(logger: Logger | None, values: Mapping[str, Any], step: int) -> None:
    if logger is None:
        return
    for name, value in values.items():
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                continue
            value = value.item()
        logger.log_scalar(name, float(value), step=step)


def split_outputs(out: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """An update's outputs as scalars: losses and the base loss's metadata under ``train/``, the
    objective's diagnostics under ``gild/``."""
    train, diagnostics = {}, {}
    for key, value in out.items():
        if isinstance(value, torch.Tensor):
            if key.startswith(("loss_", "nonfinite_skips_")) or key in BASE_METADATA:
                train[f"train/{key}"] = value
            else:
                diagnostics[f"gild/{key}"] = value
    return train, diagnostics


def episode_scalars(data) -> dict[str, torch.Tensor]:
    """Sparse and dense returns and lengths of the training episodes that ended in this batch."""
    done = data.get(("next", "done")).reshape(-1)
    if not done.any():
        return {}
    return {"train/episode_sparse_return": data.get(("next", "episode_sparse_reward"))[done].mean(),
            "train/episode_dense_return": data.get(("next", "episode_dense_reward"))[done].mean(),
            "train/episode_length": data.get(("next", "step_count"))[done].float().mean()}


def log_training(logger: Logger | None, data, out: Mapping[str, Any], loss_module: BaseLossWrapper, frames: int,
                 progress: Progress, timers: Mapping[str, float], start: float) -> None:
    """Training returns of the episodes that ended in this batch, losses, GILD diagnostics, throughput."""
    if logger is None:
        return
    values: dict[str, Any] = episode_scalars(data)
    train, diagnostics = split_outputs(out)
    values.update(train)
    if not loss_module.diagnostics_per_update:  # else logged at their own updates
        values.update(diagnostics)
    values.update({f"gild/{name}": value for name, value in loss_module.schedule_diagnostics().items()})
    values["gild/rewarded_transitions"] = progress.rewarded
    if progress.first_reward_frame is not None:
        values["gild/frames_to_first_reward"] = progress.first_reward_frame
    wall = time.perf_counter() - start
    values["throughput/frames_per_s"] = frames / wall
    values["throughput/updates_per_s"] = progress.updates / wall
    values.update({f"time/{name}": seconds for name, seconds in timers.items()})
    log_scalars(logger, values, frames)
