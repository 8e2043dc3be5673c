"""The run's configuration: the checks made before anything is built, and the values derived from it.

The config itself is the recipes' YAML (``recipes/config/gild_defaults.yaml``, composed by Hydra);
the names of algorithms and objectives are checked against their tables
(:mod:`gild_torchrl.algorithms`, :mod:`gild_torchrl.objectives.registry`), so a registered one is
accepted everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from gild_torchrl.algorithms import ALGORITHMS, get_algorithm
from gild_torchrl.data.sources import DEMO_FORMATS
from gild_torchrl.objectives.lookahead import META_STARTS
from gild_torchrl.objectives.registry import OBJECTIVES, get_objective
from gild_torchrl.optim import WEIGHT_DECAY_KINDS

#: The paper's warm start: 1% of its 1e6 gradient updates (``loss.warm_start=paper``).
PAPER_WARM_START_UPDATES = 10_000
#: The meta-objective's states: a second replay batch (the spec), the replay batch's own, the demo batch's.
VALIDATION_BATCHES = (True, False, "demo")
#: Logger kinds, as TorchRL's ``get_logger`` names them (null: none).
LOGGER_BACKENDS = ("tensorboard", "csv", "wandb", "mlflow")
POSITIVE_INTS = ("collector.total_frames", "collector.frames_per_batch", "replay_buffer.batch_size", "loss.bc_fit_steps",
                 "replay_buffer.size", "demos.batch_size", "eval.interval", "eval.episodes")


class ConfigError(ValueError):
    """A configuration value the run cannot work with."""


# ``run_dir`` is the resumed run's directory when ``resume`` is set (config/gild_defaults.yaml).
OmegaConf.register_new_resolver("run_dir_or", lambda resume, default: resume or default, replace=True)


def check_config(cfg: DictConfig) -> None:
    """One clear error for each bad value, before any environment or network is built."""
    if cfg.algorithm not in ALGORITHMS:
        raise ConfigError(f"algorithm={cfg.algorithm!r}; expected one of {tuple(ALGORITHMS)}.")
    algorithm = get_algorithm(cfg.algorithm)
    objectives = algorithm.objectives or tuple(OBJECTIVES)
    if cfg.loss.objective not in objectives:
        with_algorithm = "" if algorithm.objectives is None else f" with algorithm={cfg.algorithm!r}"
        raise ConfigError(f"loss.objective={cfg.loss.objective!r}; expected one of {objectives}{with_algorithm}.")
    choices = {"loss.meta_start": META_STARTS, "optim.meta_weight_decay_kind": WEIGHT_DECAY_KINDS,
               "demos.format": DEMO_FORMATS, "loss.validation_batch": VALIDATION_BATCHES}
    for key, allowed in choices.items():
        if OmegaConf.select(cfg, key) not in allowed:
            raise ConfigError(f"{key}={OmegaConf.select(cfg, key)!r}; expected one of {allowed}.")
    backend = cfg.logger.backend
    if backend and backend not in LOGGER_BACKENDS:
        raise ConfigError(f"logger.backend={backend!r}; expected one of {LOGGER_BACKENDS} or null.")
    for key in POSITIVE_INTS:
        value = OmegaConf.select(cfg, key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{key}={value!r}; expected a positive integer.")
    if not isinstance(cfg.collector.init_random_frames, int) or cfg.collector.init_random_frames < 0:
        raise ConfigError(f"collector.init_random_frames={cfg.collector.init_random_frames!r}; expected an integer >= 0.")
    if not cfg.optim.utd_ratio > 0:
        raise ConfigError(f"optim.utd_ratio={cfg.optim.utd_ratio!r}; expected a positive number.")
    if cfg.loss.validation_batch == "demo" and algorithm.off_policy:
        meta_with_demos = [n for n, o in OBJECTIVES.items() if o.uses_demonstrations and o.uses_validation]
        if cfg.loss.objective not in meta_with_demos:
            raise ConfigError(f"loss.validation_batch='demo' needs demonstrations in the meta-objective; expected "
                              f"loss.objective={' or '.join(meta_with_demos)}, got {cfg.loss.objective!r}.")
    if cfg.eval.behaviour_kl and not get_algorithm(cfg.algorithm).stochastic_actor:
        raise ConfigError(f"eval.behaviour_kl=true measures the KL of a stochastic actor from the behaviour policy; "
                          f"algorithm={cfg.algorithm!r} has a deterministic one (expected e.g. algorithm=sac).")
    minutes = cfg.checkpoint.get("minutes")
    if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or minutes <= 0):
        raise ConfigError(f"checkpoint.minutes={minutes!r}; expected a positive number of minutes or null.")
    warm_start = cfg.loss.warm_start
    if warm_start not in (None, "auto", "paper") and (isinstance(warm_start, bool) or not isinstance(warm_start, (int, float))):
        raise ConfigError(f"loss.warm_start={warm_start!r}; expected 'auto', 'paper', null, an int (actor updates) or a fraction.")


def policy_delay(cfg: DictConfig) -> int:
    """Critic updates per actor update (``td3.policy_delay`` for TD3, 1 for DDPG and SAC)."""
    return get_algorithm(cfg.algorithm).policy_delay(cfg)


def warm_start_setting(cfg: DictConfig) -> int | float | None:
    """``loss.warm_start`` with ``auto`` replaced by the objective's default and ``paper`` by the
    paper's length: 1e4 gradient updates whatever the run's budget, in actor updates (TD3: 5,000)."""
    warm_start = cfg.loss.warm_start
    if warm_start == "paper":
        return PAPER_WARM_START_UPDATES // policy_delay(cfg)
    return get_objective(cfg.loss.objective).default_warm_start if warm_start == "auto" else warm_start


def total_updates(cfg: DictConfig) -> int:
    """Gradient updates of the whole run: one per collected frame after the random phase (utd 1)."""
    frames = max(cfg.collector.total_frames - cfg.collector.init_random_frames, 0)
    return max(1, int(frames * cfg.optim.utd_ratio))


def command_line_keys() -> set[str]:
    """The config keys this Hydra job was given explicitly (empty outside a Hydra job)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return set()
    return {override.split("=", 1)[0].lstrip("+~") for override in HydraConfig.get().overrides.task}


def flatten_config(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    """A nested config (as a plain container) as ``{"section.key": value}``: the form the loggers'
    hyperparameters and the provenance's config changes are written in."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(flatten_config(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
