"""Checks of a study's Slurm launcher before any job is submitted.

What a user meets most on a cluster is a partition name that does not exist there, or a time limit
above what the partition allows; sbatch then refuses every job of the array from deep inside
submitit. Asking ``sinfo`` first turns both into one sentence before anything is submitted.
"""

from __future__ import annotations

import shutil
import subprocess

from omegaconf import DictConfig, OmegaConf


class LaunchError(ValueError):
    """A launcher setting the cluster cannot run."""


def slurm_minutes(limit: str) -> float:
    """Slurm's time-limit notation (``infinite``, ``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH[:MM[:SS]]``) in minutes."""
    limit = limit.strip()
    if limit in ("infinite", "UNLIMITED", ""):
        return float("inf")
    days, _, rest = limit.rpartition("-")
    parts = [int(p) for p in rest.split(":")]
    if not days and len(parts) <= 2:  # MM or MM:SS
        parts = [0, *parts] + [0] * (2 - len(parts))
    hours, minutes, seconds = (parts + [0, 0, 0])[:3]
    return (int(days or 0) * 24 + hours) * 60 + minutes + seconds / 60


def check_slurm_launcher(config: DictConfig) -> None:
    """Raise :class:`LaunchError` when ``hydra.launcher`` is Slurm's and its partition or time limit cannot run."""
    launcher = OmegaConf.select(config, "hydra.launcher")
    if launcher is None or "SlurmLauncher" not in str(launcher.get("_target_", "")):
        return
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        raise LaunchError("hydra/launcher=slurm submits with sbatch, which is not on this machine's PATH; "
                          "run the study on a Slurm login node, or use hydra/launcher=local.")
    partition = launcher.get("partition")
    listing = subprocess.run(["sinfo", "-h", "-o", "%R %l"], capture_output=True, text=True, timeout=30)
    if listing.returncode != 0:
        raise LaunchError(f"sinfo failed ({listing.stderr.strip() or listing.returncode}); is the Slurm controller reachable?")
    limits = dict(line.split(None, 1) for line in listing.stdout.splitlines() if line.strip())
    if partition is not None and partition not in limits:
        raise LaunchError(f"hydra.launcher.partition={partition!r} is not a partition of this cluster; "
                          f"sinfo lists {sorted(limits)}.")
    timeout = launcher.get("timeout_min")
    if partition is not None and timeout is not None:
        allowed = slurm_minutes(limits[partition])
        if timeout > allowed:
            raise LaunchError(f"hydra.launcher.timeout_min={timeout} exceeds partition {partition!r}'s time limit of "
                              f"{allowed:g} minutes; lower it (a run resumes from its checkpoint when requeued) "
                              f"or choose another partition.")


