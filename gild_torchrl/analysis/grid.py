"""A study's grid: the runs a Hydra multirun sweeps, restricted to the study's cells.

Hydra's basic sweeper runs a Cartesian product. A study such as ``quick`` is a union of products
(every objective on PointNav with 5 seeds, three of them on Hopper with 2 seeds), so a preset
lists *cells*: each run of the sweep belongs to the first cell whose ``match`` it satisfies and
takes that cell's ``set`` overrides (its budget); a run that matches no cell is not part of the
study. The launcher (``recipes/study.py``) and the analysis (the missing-run report) both use
this module, so they agree on which runs a study has.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

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


def study_runs(sweep: Sequence[str], defaults: Mapping[str, Any], cells: Iterable[Mapping[str, Any]] | None) -> list[str]:
    """The run ids of a study: the sweep's combinations (``defaults`` fill the keys it does not sweep) in a cell."""
    cells = list(cells or [])
    runs = []
    for combination in expand_sweep(sweep):
        values = {**{k: str(v) for k, v in defaults.items()}, **combination}
        if find_cell(values, cells) is not None:
            runs.append(run_id(values))
    return sorted(set(runs))
