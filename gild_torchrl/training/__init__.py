"""The training run, importable: configuration checks, builders, the update, evaluation, logging,
the run directory, checkpoints, the parts of a run's life (``session``), the off-policy and
on-policy runs and a recipe's body (``command``), one concern per module.

The recipes (``recipes/td3_gild.py`` ...) are thin Hydra entry points around :func:`run`; a
pipeline of one's own can call :func:`train` with a config composed from ``recipes/config`` or
reuse the ``make_*`` builders.
"""

from gild_torchrl.training.build import (
    make_behaviour_policy,
    make_collector,
    make_demonstrations,
    make_divergence_batch,
    make_environment,
    make_evaluation_envs,
    make_exploration_policy,
    make_loss_module,
    make_optimizers,
    make_reference_demonstrations,
    make_replay_buffer,
    make_target_updater,
    transform_demonstrations,
)
from gild_torchrl.training.config import (
    PAPER_WARM_START_UPDATES,
    ConfigError,
    check_config,
    command_line_keys,
    policy_delay,
    total_updates,
    warm_start_setting,
)
from gild_torchrl.training.evaluate import evaluate
from gild_torchrl.training.command import resume_config, run
from gild_torchrl.training.off_policy import train
from gild_torchrl.training.run_dir import Progress, RunDirError, claim_run_dir
from gild_torchrl.training.session import run_info
from gild_torchrl.training.update import sample_batch, update

__all__ = [
    "PAPER_WARM_START_UPDATES",
    "ConfigError",
    "Progress",
    "RunDirError",
    "check_config",
    "claim_run_dir",
    "command_line_keys",
    "evaluate",
    "make_behaviour_policy",
    "make_collector",
    "make_demonstrations",
    "make_divergence_batch",
    "make_environment",
    "make_evaluation_envs",
    "make_exploration_policy",
    "make_loss_module",
    "make_optimizers",
    "make_reference_demonstrations",
    "make_replay_buffer",
    "make_target_updater",
    "policy_delay",
    "resume_config",
    "run",
    "run_info",
    "sample_batch",
    "total_updates",
    "train",
    "transform_demonstrations",
    "update",
    "warm_start_setting",
]
