"""Whole-run wall time of the recipes beside the plain loop (``benchmarks/plain_loop.py``), and the split of their time.

For each algorithm (and collector batch size, ``--frames-per-batch``) the plain loop and the
recipe (each objective of ``--objectives``, GILD with its default warm start) run the same frames,
updates and evaluations, interleaved over ``--repeats`` rounds in one process; figures are medians
over rounds, ratios come from the same rounds. The split names the recipe's timers: collect (the
collector's iterations, random phase included), sample (storing the batch and sampling replay
batches), update, eval, log, checkpoint (the recipe's final one). "outside %" is collect + sample
+ log after the random phase, as a share of the wall time after it (the issue's 10% target);
"eval ms/step" is the evaluation's seconds per evaluation env step.

    python benchmarks/recipe_throughput.py            # TD3 and SAC, rl, 10 frames per batch (the studies'), < 5 min quiet
    python benchmarks/recipe_throughput.py --algorithms td3 --objectives rl gild --frames-per-batch 10 1000
    python benchmarks/recipe_throughput.py --profile  # also the recipe's costliest functions (cProfile, own time)

Demonstrations: the set bundled for ``--env`` when there is one, else (only to time the update)
uniformly random in-bounds rows, which the output says.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":  # run as a file: this repository's benchmarks package, not one an installed dependency ships
    sys.path.insert(0, str(ROOT))

from hydra import compose, initialize_config_dir  # noqa: E402

from benchmarks import plain_loop  # noqa: E402
from gild_torchrl.data import MissingDemonstrationError, bundled  # noqa: E402

PARTS = ("collect", "sample", "update", "eval", "log", "checkpoint")
OUTSIDE = ("collect", "sample", "log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--algorithms", nargs="+", default=["td3", "sac"], choices=("td3", "sac"))
    parser.add_argument("--objectives", nargs="+", default=["rl"])
    parser.add_argument("--frames-per-batch", nargs="+", type=int, default=[10])
    parser.add_argument("--frames", type=int, default=8000)
    parser.add_argument("--random-frames", type=int, default=3000)
    parser.add_argument("--eval-interval", type=int, default=2500)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-plain", action="store_true", help="only the recipe")
    parser.add_argument("--profile", action="store_true", help="print each recipe case's costliest functions")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from gild_torchrl import training

    workdir = Path(tempfile.mkdtemp(prefix="gild_throughput_"))
    overrides = [
        f"env.name={args.env}",
        f"collector.total_frames={args.frames}",
        f"collector.init_random_frames={args.random_frames}",
        f"eval.interval={args.eval_interval}",
        f"threads={args.threads}",
        "logger.progress_bar=false",
    ]
    try:
        bundled(args.env)
        demo_note = f"bundled demonstrations of {args.env}"
    except MissingDemonstrationError:
        demo_file = workdir / "random_demos.npy"
        rng = np.random.default_rng(0)
        obs_dim, act_dim = {"Hopper-v5": (11, 3), "Walker2d-v5": (17, 6), "HalfCheetah-v5": (17, 6)}[args.env]
        np.save(demo_file, np.concatenate([rng.normal(size=(5000, obs_dim)), rng.uniform(-1, 1, (5000, act_dim))], 1))
        overrides.append(f"demos.path={demo_file}")
        demo_note = "random in-bounds demonstration rows (no bundled set yet; timing only)"

    loops = ([] if args.no_plain else ["plain"]) + args.objectives
    cases = [(algorithm, fpb, loop) for algorithm in args.algorithms for fpb in args.frames_per_batch for loop in loops]
    results = {case: [] for case in cases}
    profiles = {}
    with initialize_config_dir(config_dir=str(ROOT / "recipes" / "config"), version_base="1.3"):
        for round_ in range(args.repeats):
            for algorithm, fpb, loop in cases:
                if loop == "plain":
                    result = plain_loop.run(algorithm, args.env, args.frames, args.random_frames, fpb, args.eval_interval,
                                            threads=args.threads)
                else:
                    cfg = compose(f"{algorithm}_gild", [*overrides, f"loss.objective={loop}", f"collector.frames_per_batch={fpb}",
                                                        f"run_dir={workdir / f'{algorithm}_{loop}_{fpb}_{round_}'}"])
                    profiler = cProfile.Profile() if args.profile and round_ == 0 else None
                    if profiler is not None:
                        profiler.enable()
                    result = training.train(cfg)
                    if profiler is not None:
                        profiler.disable()
                        profiles[(algorithm, fpb, loop)] = profiler
                    result["eval_steps"] = result["length"] * cfg.eval.episodes * -(-args.frames // args.eval_interval)
                results[(algorithm, fpb, loop)].append(result)
                print(f"round {round_} {algorithm} {loop} {fpb} frames per batch: {result['wall_time']:.1f} s",
                      file=sys.stderr, flush=True)

    def median(case, key):
        return statistics.median(float(r.get(key) or 0.0) for r in results[case])

    load = os.getloadavg()
    print(f"{args.env}, {args.frames} frames ({args.random_frames} random), an evaluation of 10 episodes every "
          f"{args.eval_interval} frames and at the end, {args.threads} thread(s); {demo_note};")
    print(f"medians over {args.repeats} interleaved round(s); load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    print("| algorithm | frames per batch | loop | wall s | frames/s | wall / plain | "
          + " | ".join(f"{p} %" for p in PARTS) + " | outside % (after random) | eval ms/step |")
    print("|---|---|---|---|---|---|" + "---|" * (len(PARTS) + 2))
    for algorithm, fpb, loop in cases:
        case = (algorithm, fpb, loop)
        wall = median(case, "wall_time")
        plain = median((algorithm, fpb, "plain"), "wall_time") if not args.no_plain else float("nan")
        shares = [100 * median(case, part) / wall for part in PARTS]
        random_phase = median(case, "random_phase")
        outside = 100 * (sum(median(case, p) for p in OUTSIDE) - random_phase) / (wall - random_phase)
        eval_ms = 1000 * median(case, "eval") / max(median(case, "eval_steps"), 1.0)
        print(f"| {algorithm} | {fpb} | {loop} | {wall:.1f} | {args.frames / wall:.0f} | {wall / plain:.3f}x | "
              + " | ".join(f"{s:.1f}" for s in shares) + f" | {outside:.1f} | {eval_ms:.3f} |")
    for case, profiler in profiles.items():
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(25)
        print(f"\n### {' '.join(map(str, case))}: the 25 functions with the most own time\n```")
        print("\n".join(stream.getvalue().strip().splitlines()[4:]))
        print("```")


if __name__ == "__main__":
    main()
