"""Wall time, frames/s and the split of time of the TD3 recipe for objectives rl, il and gild.

Each objective runs the same number of frames with the recipe's defaults otherwise (GILD with
its default warm start: 1% of the run's updates), interleaved over ``--repeats`` rounds in one
process; the figures are medians over rounds, with ratios to ``rl`` from the same rounds.

    python benchmarks/recipe_throughput.py [--frames 15000] [--random-frames 5000] [--repeats 2]

Demonstrations: the set bundled for ``--env`` when there is one, else (only to time the update)
uniformly random in-bounds rows, which the output says.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "recipes"))

from hydra import compose, initialize_config_dir  # noqa: E402

from gild_torchrl.data import MissingDemonstrationError, bundled  # noqa: E402

PARTS = ("collect", "sample", "update", "eval", "log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--frames", type=int, default=15_000)
    parser.add_argument("--random-frames", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--objectives", nargs="+", default=["rl", "il", "gild"])
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import gild_utils

    workdir = Path(tempfile.mkdtemp(prefix="gild_throughput_"))
    overrides = [
        f"env.name={args.env}",
        f"collector.total_frames={args.frames}",
        f"collector.init_random_frames={args.random_frames}",
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

    results = {objective: [] for objective in args.objectives}
    with initialize_config_dir(config_dir=str(ROOT / "recipes" / "config"), version_base="1.3"):
        for round_ in range(args.repeats):
            for objective in args.objectives:
                run_dir = workdir / f"{objective}_{round_}"
                cfg = compose("td3_gild", [*overrides, f"loss.objective={objective}", f"run_dir={run_dir}"])
                result = gild_utils.train(cfg)
                results[objective].append(result)
                print(f"round {round_} {objective}: {result['wall_time']:.1f} s", file=sys.stderr, flush=True)

    def median(objective, key):
        return statistics.median(r[key] for r in results[objective])

    print(f"TD3 recipe on {args.env}, {args.frames} frames ({args.random_frames} random), {args.threads} thread(s),")
    print(f"{demo_note}; medians over {args.repeats} interleaved rounds\n")
    print("| objective | wall s | frames/s | ratio to rl | " + " | ".join(f"{p} %" for p in PARTS) + " |")
    print("|---|---|---|---|" + "---|" * len(PARTS))
    base = median(args.objectives[0], "wall_time")
    for objective in args.objectives:
        wall = median(objective, "wall_time")
        shares = [100 * median(objective, part) / wall for part in PARTS]
        print(f"| {objective} | {wall:.1f} | {args.frames / wall:.0f} | {wall / base:.3f}x | "
              + " | ".join(f"{s:.1f}" for s in shares) + " |")
    rl = args.objectives[0]
    overhead = sum(median(rl, p) for p in ("collect", "sample", "log")) / median(rl, "wall_time")
    print(f"\ncollection + replay + logging in the {rl} run: {100 * overhead:.1f}% of its wall time "
          f"(evaluation: {100 * median(rl, 'eval') / median(rl, 'wall_time'):.1f}%)")


if __name__ == "__main__":
    main()
