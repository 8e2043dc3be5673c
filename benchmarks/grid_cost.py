"""The ``grid`` study's CPU-hours, from short runs of its own cells (one torch thread, in one process).

Each case (task x algorithm x setting) runs the grid's run config with a short budget: a random
phase, then ``--frames - --random-frames`` frames of updates (all inside the warm start for the
warm-started settings), and one evaluation. Its costs per unit, from the run's own timers:
update (+ replay sampling) per gradient update, collection per frame, evaluation per environment
step. Other processes share the machine, so each figure is also given scaled by the run's CPU share
(this process's CPU time / wall time): the CPU-hours a core of its own would take. ``--estimate``
prints a grid run's cost per cell and the total from those figures.

    python benchmarks/grid_cost.py --out costs.jsonl                       # every task, algorithm, setting
    python benchmarks/grid_cost.py --tasks Ant-v5 --algorithms sac --settings gild --out costs.jsonl
    python benchmarks/grid_cost.py --estimate costs.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict

from gild_torchrl.training.grid import find_cell

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("Hopper-v5", "Walker2d-v5", "HalfCheetah-v5", "Ant-v5")
ALGORITHMS = ("ddpg", "td3", "sac")
SETTINGS = ("rl", "il", "meta_critic", "gild")
#: The paper's warm start in gradient updates (``loss.warm_start: paper``), whatever the algorithm.
WARM_UPDATES = 10_000


def run_config(task: str, algorithm: str, setting: str, run_dir: Path, overrides: list[str]):
    """The grid's config of one run (the cell's budget applied, as ``study_job`` does), then ``overrides``."""
    with initialize_config_dir(config_dir=str(ROOT / "recipes" / "config"), version_base="1.3"):
        cfg = compose("study", ["study=grid", f"setting={setting}", f"env.name={task}", f"algorithm={algorithm}",
                                "seed=0", f"run_dir={run_dir}"])
    values = {"env.name": task, "algorithm": algorithm, "setting": setting, "seed": 0}
    cell = find_cell(values, OmegaConf.to_container(cfg.study.cells))
    with open_dict(cfg):
        for key, value in cell["set"].items():
            OmegaConf.update(cfg, key, value, merge=False)
        cfg.setting = setting
        for override in overrides:
            key, value = override.split("=", 1)
            OmegaConf.update(cfg, key, json.loads(value), merge=False)
    return cfg


def measure(args: argparse.Namespace) -> None:
    from gild_torchrl.training.command import trainer

    workdir = Path(tempfile.mkdtemp(prefix="grid_cost_"))
    cases = [(t, a, s) for t in args.tasks for a in args.algorithms for s in args.settings]
    cases += [(t, "trpo", "logo") for t in args.tasks if args.logo]
    for task, algorithm, setting in cases:
        on_policy = algorithm == "trpo"
        frames = args.logo_frames if on_policy else args.frames
        overrides = [f"collector.total_frames={frames}", f"eval.interval={frames}", f"eval.episodes={args.eval_episodes}",
                     "checkpoint.interval=0", "logger.backend=null", "logger.progress_bar=false", "threads=1"]
        if not on_policy:
            overrides.append(f"collector.init_random_frames={args.random_frames}")
        run_dir = workdir / f"{task}_{algorithm}_{setting}"
        cfg = run_config(task, algorithm, setting, run_dir, overrides)
        load_before = os.getloadavg()[0]
        wall, cpu = time.perf_counter(), time.process_time()
        result = trainer(cfg)(cfg)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        eval_steps = float(result.get("length", 0.0)) * args.eval_episodes
        record = {"task": task, "algorithm": algorithm, "setting": setting, "frames": result["frames"],
                  "random_frames": 0 if on_policy else args.random_frames, "updates": result["updates"],
                  "wall_s": wall, "cpu_s": cpu, "cpu_share": cpu / wall, "load_before": load_before,
                  "load_after": os.getloadavg()[0], "eval_steps": eval_steps,
                  **{k: result[k] for k in ("collect", "sample", "update", "eval", "log") if k in result}}
        record["ms_per_update"] = 1e3 * (record["update"] + record.get("sample", 0.0)) / max(record["updates"], 1)
        record["ms_per_frame"] = 1e3 * record["collect"] / record["frames"]
        record["ms_per_eval_step"] = 1e3 * record["eval"] / max(eval_steps, 1.0)
        with open(args.out, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(f"{task} {algorithm} {setting}: {record['ms_per_update']:.1f} ms/update, {record['ms_per_frame']:.2f} ms/frame, "
              f"{record['ms_per_eval_step']:.2f} ms/eval step; CPU share {record['cpu_share']:.2f}, "
              f"load {load_before:.1f}->{record['load_after']:.1f}", flush=True)


def run_hours(costs: dict[str, dict[str, float]], setting: str, frames: int, random_frames: int, eval_steps: int) -> float:
    """One grid run's CPU-hours from per-unit costs (ms, CPU-share-corrected): ``costs`` holds those of
    ``rl``, ``il``, ``meta_critic`` and ``gild`` on the run's task and algorithm (``logo``: LOGO's alone).

    Collection and evaluation steps cost a collected frame each; the warm-started settings pay their
    guided update for the paper's 1e4 gradient updates, then rl's.
    """
    if setting == "logo":
        c = costs["logo"]
        return ((frames + eval_steps) * c["ms_per_frame"] + frames * c["ms_per_update_frame"]) / 3.6e6
    updates = frames - random_frames
    guided = {"rl": 0, "il": updates, "il_warm_start": min(WARM_UPDATES, updates), "meta_critic": updates,
              "gild": min(WARM_UPDATES, updates)}[setting]
    guide = costs["il" if setting == "il_warm_start" else setting]
    ms = (guided * guide["ms_per_update"] + (updates - guided) * costs["rl"]["ms_per_update"]
          + (frames + eval_steps) * guide["ms_per_frame"])
    return ms / 3.6e6


def estimate(args: argparse.Namespace) -> None:
    records = [json.loads(line) for line in Path(args.estimate).read_text().splitlines() if line.strip()]
    by_case: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        by_case[(r["task"], r["algorithm"], r["setting"])].append(r)

    def corrected(rs: list[dict]) -> dict[str, float]:
        """Medians over repeats of the per-unit costs, each scaled by its run's CPU share."""
        out = {k: statistics.median(r[k] * r["cpu_share"] for r in rs) for k in ("ms_per_update", "ms_per_frame")}
        out["ms_per_update_frame"] = statistics.median(1e3 * r["update"] * r["cpu_share"] / r["frames"] for r in rs)
        return out

    costs = {case: corrected(rs) for case, rs in by_case.items()}
    # il where it was not measured: rl's cost times il/rl of the same algorithm on the tasks where both ran
    il_ratio = {a: statistics.median(costs[(t, a, "il")]["ms_per_update"] / costs[(t, a, "rl")]["ms_per_update"]
                                     for t in TASKS if (t, a, "il") in costs and (t, a, "rl") in costs)
                for a in ALGORITHMS if any((t, a, "il") in costs and (t, a, "rl") in costs for t in TASKS)}
    eval_steps = (args.grid_frames // args.eval_interval) * args.grid_eval_episodes * 1000  # every episode at its 1,000-step limit
    print(f"grid run: {args.grid_frames} frames, {args.grid_random_frames} random, {WARM_UPDATES} guided updates in the "
          f"warm start, {eval_steps} evaluation steps (upper bound); CPU-hours per run, each measured cost scaled by "
          f"its run's CPU share; il/rl update cost ratio where il was not run: {il_ratio}\n")
    settings = ("rl", "il", "il_warm_start", "meta_critic", "gild")
    print("| task | algorithm | " + " | ".join(settings) + " | ms/update rl, il, meta_critic, gild | CPU share of the runs |")
    print("|---|---|" + "---|" * len(settings) + "---|---|")
    total, per_setting, missing = 0.0, defaultdict(float), []
    for task in TASKS:
        for algorithm in ALGORITHMS:
            cell = {s: costs[(task, algorithm, s)] for s in SETTINGS if (task, algorithm, s) in costs}
            if "il" not in cell and "rl" in cell and algorithm in il_ratio:
                cell["il"] = {**cell["rl"], "ms_per_update": cell["rl"]["ms_per_update"] * il_ratio[algorithm]}
            if not {"rl", "il", "meta_critic", "gild"} <= set(cell):
                missing.append(f"{task}/{algorithm}")
                continue
            hours = {s: run_hours(cell, s, args.grid_frames, args.grid_random_frames, eval_steps) for s in settings}
            for s, h in hours.items():
                per_setting[s] += h * args.seeds
            total += sum(hours.values()) * args.seeds
            shares = [r["cpu_share"] for s in SETTINGS for r in by_case.get((task, algorithm, s), [])]
            print(f"| {task} | {algorithm} | " + " | ".join(f"{hours[s]:.2f}" for s in settings) + " | "
                  + ", ".join(f"{cell[s]['ms_per_update']:.1f}" for s in SETTINGS) + f" | {min(shares):.2f}-{max(shares):.2f} |")
        if (task, "trpo", "logo") in costs:
            hours = run_hours({"logo": costs[(task, "trpo", "logo")]}, "logo", args.grid_frames, 0, eval_steps)
            per_setting["logo"] += hours * args.seeds
            total += hours * args.seeds
            print(f"| {task} | trpo | logo: {hours:.2f} | | | | | | |")
        else:
            missing.append(f"{task}/trpo")
    print(f"\n{args.seeds} seeds: " + ", ".join(f"{s} {h:.1f}" for s, h in per_setting.items()) + f"; total {total:.1f} CPU-hours"
          + (f" (not measured, left out: {', '.join(missing)})" if missing else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS))
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS))
    parser.add_argument("--logo", action=argparse.BooleanOptionalAction, default=True, help="also LOGO on each task")
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--random-frames", type=int, default=1000)
    parser.add_argument("--logo-frames", type=int, default=10_000)
    parser.add_argument("--eval-episodes", type=int, default=2)
    parser.add_argument("--out", default="grid_cost.jsonl")
    parser.add_argument("--estimate", help="a file of measurements: print the grid's CPU-hours from it")
    parser.add_argument("--grid-frames", type=int, default=100_000)
    parser.add_argument("--grid-random-frames", type=int, default=10_000)
    parser.add_argument("--eval-interval", type=int, default=5000)
    parser.add_argument("--grid-eval-episodes", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.estimate:
        estimate(args)
    else:
        measure(args)


if __name__ == "__main__":
    sys.exit(main())
