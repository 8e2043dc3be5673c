"""A study: the recipes' runs for a grid of tasks x algorithms x settings x seeds, as one Hydra multirun.

    python recipes/study.py study=quick                          # 45 min on 2 cores, joblib launcher
    python recipes/study.py study=quick seed='range(10)'         # more seeds: finished runs are skipped
    python recipes/study.py study=paper hydra/launcher=slurm hydra.launcher.partition=<p>
    python -m gild_torchrl.analysis studies/quick                # curves, divergence, results table

Hydra runs this function once per combination of the preset's sweep (``config/study/*.yaml``);
the function decides what that combination means for the study: not in any of the preset's
cells -> not part of the study (its directory is removed); finished (``result.json``) -> skipped;
a complete checkpoint -> resumed; otherwise trained from scratch with the cell's budget.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from gild_torchrl.analysis.grid import RUN_KEYS, find_cell, run_id

RECIPES = Path(__file__).resolve().parent


@hydra.main(config_path="config", config_name="study", version_base="1.3")
def main(cfg: DictConfig) -> None:
    # Imported here: a Slurm (submitit) job unpickles this function in a fresh process whose
    # sys.path lacks the recipes directory.
    if str(RECIPES) not in sys.path:
        sys.path.insert(0, str(RECIPES))
    import run_checkpoint
    from gild_utils import RESULT_FILE, run

    values = {key: OmegaConf.select(cfg, key) for key in RUN_KEYS}
    name = f"{cfg.study.name}: {run_id(values)}"
    run_dir = Path(cfg.run_dir)
    cell = find_cell(values, OmegaConf.to_container(cfg.study.cells, resolve=True))
    if cell is None:
        remove_run_dir(run_dir, Path(cfg.study.dir))
        return
    if (run_dir / RESULT_FILE).is_file():
        print(f"[study] {name}: finished earlier, skipped", flush=True)
        return
    with open_dict(cfg):
        for key, value in (cell.get("set") or {}).items():
            OmegaConf.update(cfg, key, value, merge=False)
        if run_checkpoint.find(run_dir) is not None:
            cfg.resume = str(run_dir)
    print(f"[study] {name}: {'resuming' if cfg.resume else 'starting'} ({cfg.collector.total_frames} frames)", flush=True)
    run(cfg)


def remove_run_dir(run_dir: Path, study_dir: Path) -> None:
    """Hydra creates a directory for every combination; one outside the study's cells leaves none behind."""
    shutil.rmtree(run_dir, ignore_errors=True)
    parent, study_dir = run_dir.parent, study_dir.resolve()
    while parent.resolve() != study_dir and study_dir in parent.resolve().parents:
        try:
            parent.rmdir()  # only if empty: another run of the study may live there
        except OSError:
            break
        parent = parent.parent


if __name__ == "__main__":
    main()
