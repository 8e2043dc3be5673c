"""A study's grid: the runs a Hydra multirun sweeps, restricted to the study's cells.

Hydra's basic sweeper runs a Cartesian product. A study such as ``quick`` is a union of products
(every objective on PointNav with 5 seeds, three of them on Hopper with 2 seeds), so a preset
lists *cells*: each run of the sweep belongs to the first cell whose ``match`` it satisfies and
takes that cell's ``set`` overrides (its budget); a run that matches no cell is not part of the
study. The launcher (``recipes/study.py``) and the analysis (the missing-run report) both use
this module, so they agree on which runs a study has; it is part of ``training`` because the
analysis reads the runs and ``training`` never imports the analysis.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

#: One line per launch of a study: when, the command-line overrides, and the run ids it covers.
LAUNCHES_FILE = "launches.jsonl"

#: The keys that name a run inside a study (and its directory).
RUN_KEYS = ("env.name", "algorithm", "setting", "seed")


def cell_matches(values: Mapping[str, Any], match: Mapping[str, Any] | None) -> bool:
    """Whether a run (``values``: dotted key -> value) satisfies a cell's ``match``.

    A match value may be one value or a list of allowed values; values compare as strings, so
    ``seed: [0, 1]`` matches the sweep's ``seed=0``.
    """
    for key, allowed in (match or {}).items():
        if key not in values:
            raise KeyError(f"study cell matches on {key!r}, which the run does not define; use one of {sorted(values)}.")
        options = allowed if isinstance(allowed, Sequence) and not isinstance(allowed, str) else [allowed]
        if str(values[key]) not in {str(option) for option in options}:
            return False
    return True


def find_cell(values: Mapping[str, Any], cells: Iterable[Mapping[str, Any]] | None) -> Mapping[str, Any] | None:
    """The first cell the run belongs to; no cells at all means every run belongs (an empty cell)."""
    cells = list(cells or [])
    if not cells:
        return {}
    for cell in cells:
        if cell_matches(values, cell.get("match")):
            return cell
    return None


def expand_sweep(overrides: Sequence[str]) -> list[dict[str, str]]:
    """Every combination of Hydra override strings (``seed=range(3)``, ``setting=rl,il``), as Hydra's sweeper would.

    A later override of the same key replaces an earlier one (command line over preset).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    axes: dict[str, list[str]] = {}
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        key = override.key_or_group
        if override.is_sweep_override():
            axes[key] = list(override.sweep_string_iterator())
        else:
            axes[key] = [override.get_value_element_as_str()]
    keys = list(axes)
    return [dict(zip(keys, combination)) for combination in itertools.product(*(axes[k] for k in keys))]


def run_id(values: Mapping[str, Any]) -> str:
    """A run's name inside a study, also its directory: ``<task>/<algorithm>/<setting>/seed<seed>``."""
    return f"{values['env.name']}/{values['algorithm']}/{values['setting']}/seed{values['seed']}"


def study_runs(sweep: Sequence[str], defaults: Mapping[str, Any], cells: Iterable[Mapping[str, Any]] | None,
               ordered: bool = False) -> list[str]:
    """The run ids of a study: the sweep's combinations (``defaults`` fill the keys it does not sweep) in a cell.

    Sorted; ``ordered``: in the order the launcher starts them (Hydra's basic sweeper takes the
    product of the keys in the order given, the first key varying slowest).
    """
    cells = list(cells or [])
    runs = []
    for combination in expand_sweep(sweep):
        values = {**{k: str(v) for k, v in defaults.items()}, **combination}
        if find_cell(values, cells) is not None and run_id(values) not in runs:
            runs.append(run_id(values))
    return runs if ordered else sorted(runs)


def launch_runs(config: DictConfig, ordered: bool = False) -> list[str]:
    """The run ids one launch of a study covers, from its full config (``multirun.yaml``'s content).

    The preset's ``hydra.sweeper.params`` and the command line's overrides of the run keys make
    the sweep; the config's own values fill the keys neither sweeps; ``study.cells`` filter it.
    ``ordered``: in launch order (``study_runs``).
    """
    params = OmegaConf.select(config, "hydra.sweeper.params")
    params = OmegaConf.to_container(params, resolve=False) if params is not None else {}
    task = OmegaConf.select(config, "hydra.overrides.task") or []
    command_line = [o for o in task if o.split("=", 1)[0].lstrip("+~") in RUN_KEYS]
    sweep = [f"{key}={value}" for key, value in params.items()] + command_line
    defaults = {key: OmegaConf.select(config, key, default=None) for key in RUN_KEYS if key != "setting"}
    defaults["setting"] = OmegaConf.select(config, "hydra.runtime.choices.setting", default=None)
    cells = OmegaConf.select(config, "study.cells")
    return study_runs(sweep, defaults, OmegaConf.to_container(cells, resolve=True) if cells else [], ordered)


def prune_empty_dirs(root: Path) -> None:
    """Remove the empty directories Hydra made for runs outside the study's cells (deepest first)."""
    for directory in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        try:
            directory.rmdir()  # only succeeds when empty
        except OSError:
            pass


class StudyLaunchCallback(Callback):
    """Hydra callback of ``recipes/study.py``: records each launch's runs, tidies up after it.

    A study directory may be launched many times (more seeds, a repair of crashed runs), and
    Hydra overwrites ``multirun.yaml`` each time; ``launches.jsonl`` keeps every launch's run ids,
    so the analysis reports missing runs against all of them.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from gild_torchrl.launch import LaunchError, check_slurm_launcher

        try:
            check_slurm_launcher(config)
        except LaunchError as err:  # before any job is submitted: one sentence, exit code 2
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from None
        root = Path(config.hydra.sweep.dir)
        root.mkdir(parents=True, exist_ok=True)
        record = {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "overrides": list(config.hydra.overrides.task),
                  "runs": launch_runs(config)}
        with (root / LAUNCHES_FILE).open("a") as f:
            f.write(json.dumps(record) + "\n")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        prune_empty_dirs(Path(config.hydra.sweep.dir))
