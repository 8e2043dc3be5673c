"""One run of a study: what a combination of the sweep means for the study, then the run.

Hydra runs :func:`study_job` once per combination of the preset's sweep (``recipes/config/study/*.yaml``):
not in any of the preset's cells -> not part of the study (its directory is removed); being written
by another process (its lock is held, e.g. a job still running from an earlier launch) -> skipped; finished
(``result.json``) -> skipped, or extended when the study now asks for more frames and the final
checkpoint was kept; a complete checkpoint -> resumed; otherwise trained from scratch with the
cell's budget (a value given on the command line wins over the cell's).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from gild_torchrl.training.grid import RUN_KEYS, find_cell, run_id
from gild_torchrl.training import checkpoint, run_guard
from gild_torchrl.training.config import command_line_keys
from gild_torchrl.training.command import run
from gild_torchrl.training.run_dir import RESULT_FILE, read_run_info


def study_job(cfg: DictConfig) -> None:
    values = {key: OmegaConf.select(cfg, key) for key in RUN_KEYS}
    name = f"{cfg.study.name}: {run_id(values)}"
    run_dir = Path(cfg.run_dir)
    cell = find_cell(values, OmegaConf.to_container(cfg.study.cells, resolve=True))
    if cell is None:
        leave_no_trace(run_dir, name)
        return
    pid = run_guard.holder(run_dir)
    if pid is not None:
        print(f"[study] {name}: being written by {f'process {pid}' if pid else 'another process'}, skipped", flush=True)
        return
    # The cell's budget, except what the command line sets explicitly.
    given = command_line_keys()
    with open_dict(cfg):
        for key, value in (cell.get("set") or {}).items():
            if key not in given:
                OmegaConf.update(cfg, key, value, merge=False)
    try:
        saved = checkpoint.find(run_dir)
    except checkpoint.CheckpointError as err:
        print(f"[study] {name}: error: {err}", flush=True)
        return
    if (run_dir / RESULT_FILE).is_file():
        if not extends_finished_run(run_dir, cfg, saved is not None, name):
            return
        print(f"[study] {name}: extending to {cfg.collector.total_frames} frames", flush=True)
    elif saved is not None:
        print(f"[study] {name}: resuming ({cfg.collector.total_frames} frames)", flush=True)
    else:
        print(f"[study] {name}: starting ({cfg.collector.total_frames} frames)", flush=True)
        with open_dict(cfg):
            cfg.overwrite = True  # a run that crashed before its first checkpoint starts over in its own directory
    if saved is not None:
        with open_dict(cfg):
            cfg.resume = str(run_dir)
    run(cfg, extend_to=cfg.collector.total_frames, how_to_continue="launch the same study command again")


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
    info = read_run_info(run_dir)
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

