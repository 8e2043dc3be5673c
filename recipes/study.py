"""A study: the recipes' runs for a grid of tasks x algorithms x settings x seeds, as one Hydra multirun.

    python recipes/study.py study=quick                          # 45 min on 2 cores, joblib launcher
    python recipes/study.py study=quick seed='range(10)'         # more seeds: finished runs are skipped
    python recipes/study.py study=paper hydra/launcher=slurm hydra.launcher.partition=<p>
    python -m gild_torchrl.analysis studies/quick                # curves, divergence, results table

Hydra runs this function once per combination of the preset's sweep (``config/study/*.yaml``);
the function decides what that combination means for the study: not in any of the preset's
cells -> not part of the study (its directory is removed); finished (``result.json``) -> skipped;
a complete checkpoint -> resumed; otherwise trained from scratch with the cell's budget (a value
given on the command line wins over the cell's).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from gild_torchrl.analysis.grid import RUN_KEYS, find_cell, run_id
from gild_torchrl.analysis.runs import RESULT_FILE, RUN_FILE

RECIPES = Path(__file__).resolve().parent


@hydra.main(config_path="config", config_name="study", version_base="1.3")
def main(cfg: DictConfig) -> None:
    # Imported here: a Slurm (submitit) job unpickles this function in a fresh process whose
    # sys.path lacks the recipes directory.
    if str(RECIPES) not in sys.path:
        sys.path.insert(0, str(RECIPES))
    import run_checkpoint
    from gild_utils import run

    values = {key: OmegaConf.select(cfg, key) for key in RUN_KEYS}
    name = f"{cfg.study.name}: {run_id(values)}"
    run_dir = Path(cfg.run_dir)
    cell = find_cell(values, OmegaConf.to_container(cfg.study.cells, resolve=True))
    if cell is None:
        leave_no_trace(run_dir, name)
        return
    # The cell's budget, except what the command line sets explicitly.
    given = {o.split("=", 1)[0].lstrip("+~") for o in HydraConfig.get().overrides.task}
    with open_dict(cfg):
        for key, value in (cell.get("set") or {}).items():
            if key not in given:
                OmegaConf.update(cfg, key, value, merge=False)
    checkpoint = run_checkpoint.find(run_dir)
    if (run_dir / RESULT_FILE).is_file():
        if not extends_finished_run(run_dir, cfg, checkpoint is not None, name):
            return
        print(f"[study] {name}: extending to {cfg.collector.total_frames} frames", flush=True)
    elif checkpoint is not None:
        print(f"[study] {name}: resuming ({cfg.collector.total_frames} frames)", flush=True)
    else:
        print(f"[study] {name}: starting ({cfg.collector.total_frames} frames)", flush=True)
        with open_dict(cfg):
            cfg.overwrite = True  # a run that crashed before its first checkpoint starts over in its own directory
    if checkpoint is not None:
        with open_dict(cfg):
            cfg.resume = str(run_dir)
    run(cfg, extend_to=cfg.collector.total_frames)


def leave_no_trace(run_dir: Path, name: str) -> None:
    """Hydra makes a directory for every combination; one outside the study's cells is removed,
    unless it holds a run's files (the cells changed since): then it is kept and said so.
    (Empty parents are pruned once the launch ends, by ``StudyLaunchCallback``.)"""
    hydra_only = {".hydra", "study.log"}
    if run_dir.is_dir() and any(p.name not in hydra_only for p in run_dir.iterdir()):
        print(f"[study] {name}: outside this study's cells but holds a run's files; kept, not run", flush=True)
        return
    shutil.rmtree(run_dir, ignore_errors=True)


def extends_finished_run(run_dir: Path, cfg: DictConfig, has_checkpoint: bool, name: str) -> bool:
    """A finished run is skipped, unless the study now asks for more frames and its final checkpoint
    was kept (``checkpoint.keep_final=true``): then it continues to the new budget."""
    try:
        info = json.loads((run_dir / RUN_FILE).read_text())
    except (OSError, ValueError):
        info = {}
    ran = info.get("total_frames")
    if ran is not None and cfg.collector.total_frames > ran and has_checkpoint:
        return True
    print(f"[study] {name}: finished earlier, skipped", flush=True)
    if ran is not None and cfg.collector.total_frames > ran:
        print(f"[study] {name}: warning: it ran {ran} frames and the study now asks for {cfg.collector.total_frames}, "
              f"but its final checkpoint was not kept (checkpoint.keep_final=true keeps it); delete its directory "
              f"to redo it", flush=True)
    elif info.get("total_frames") != cfg.collector.total_frames or info.get("eval_interval") != cfg.eval.interval:
        print(f"[study] {name}: warning: it ran {info.get('total_frames')} frames (evaluated every "
              f"{info.get('eval_interval')}), the study now asks for {cfg.collector.total_frames} (every "
              f"{cfg.eval.interval}); delete its directory to redo it", flush=True)
    return False


if __name__ == "__main__":
    main()
