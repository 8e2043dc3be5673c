"""What each launch of a run ran on: code, libraries and CPU, one line per launch in ``provenance.jsonl``.

The same seed and code give the same numbers on one machine, but not across machines or library
versions (a different CPU kernel rounds matmuls differently, and RL amplifies the difference within a
few thousand updates). A run that spans launches, machines and code changes therefore keeps, for
each launch, where it started and what it ran on, so that two records of one seed that disagree can
be traced to their cause.

The run's resolved config (``.hydra/config.yaml``) is part of that record: the run writes it when it
starts, and a later launch that changes it (a larger budget, a run continued where it was moved)
rewrites it and lists the changed values in its line. Hydra itself writes nothing there
(``hydra.output_subdir: null``), so a refused launch leaves the run's files as they were.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from gild_torchrl.training.config import flatten_config
from gild_torchrl.training.run_dir import PROVENANCE_FILE, RUN_CONFIG_FILE

#: Keys that say how a launch was started, not what the run is: a change of them is not recorded.
LAUNCH_KEYS = ("resume", "overwrite")

#: The distributions whose versions can change a run's numbers.
LIBRARIES = ("gild_torchrl", "torch", "torchrl", "tensordict", "numpy", "gymnasium", "mujoco")


def library_versions() -> dict[str, str | None]:
    """Installed versions of :data:`LIBRARIES` (``None`` for one that is not installed)."""
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def source_commit() -> dict[str, Any]:
    """The git commit of the checkout the package is imported from, and whether tracked files differ
    from it; both ``None`` for an installed (non-checkout) package or without git."""
    package_dir = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(package_dir), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        changed = subprocess.run(["git", "-C", str(package_dir), "status", "--porcelain", "--untracked-files=no"],
                                 capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "modified": None}
    return {"commit": head, "modified": bool(changed)}


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what :mod:`platform` says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def launch_record(from_frames: int, total_frames: int, device: str) -> dict[str, Any]:
    """One launch: when, from which frame to which budget, and the code, libraries and hardware it ran on."""
    return {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "from_frames": int(from_frames),
        "total_frames": int(total_frames),
        **source_commit(),
        "python": platform.python_version(),
        **library_versions(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # the SIMD kernels torch dispatches to
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "cuda": torch.cuda.get_device_name(0) if device.startswith("cuda") and torch.cuda.is_available() else None,
    }


def write_run_config(run_dir: Path, cfg: DictConfig) -> dict[str, list]:
    """Write the run's resolved config unless the one recorded already says the same; returns what
    changed, ``{dotted key: [recorded, now]}`` (``{}`` for a run's first config)."""
    path = Path(run_dir) / RUN_CONFIG_FILE
    now = {k: v for k, v in OmegaConf.to_container(cfg, resolve=True).items() if k != "hydra"}
    before = OmegaConf.to_container(read_run_config(run_dir), resolve=False) if path.is_file() else None
    if before is not None:
        old, new = flatten_config(before), flatten_config(now)
        changes = {k: [old.get(k), new.get(k)] for k in sorted(old.keys() | new.keys())
                   if old.get(k) != new.get(k) and k.split(".")[0] not in LAUNCH_KEYS}
        if not changes:
            return {}
    else:
        changes = {}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(OmegaConf.to_yaml(OmegaConf.create(now)))
    tmp.rename(path)
    return changes


def read_run_config(run_dir: Path) -> DictConfig:
    """The config a run recorded (:func:`write_run_config`)."""
    return OmegaConf.load(Path(run_dir) / RUN_CONFIG_FILE)


def record_launch(run_dir: Path, from_frames: int, total_frames: int, device: str = "cpu",
                  config: DictConfig | None = None) -> dict[str, Any]:
    """Append this launch to ``run_dir/provenance.jsonl``; returns the line written. With ``config``,
    the run's recorded config is brought up to date and the values this launch changed are listed."""
    record = launch_record(from_frames, total_frames, device)
    if config is not None:
        record["overrides"] = command_line_overrides()
        record["config_changes"] = write_run_config(run_dir, config)
    with (Path(run_dir) / PROVENANCE_FILE).open("a") as f:
        f.write(json.dumps(record) + "\n")
    return record


def command_line_overrides() -> list[str]:
    """The overrides this Hydra job was launched with (``[]`` outside a Hydra job)."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def read_launches(run_dir: Path) -> list[dict[str, Any]]:
    """The launches a run directory records, oldest first (``[]`` for a run from before they were recorded)."""
    path = Path(run_dir) / PROVENANCE_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
