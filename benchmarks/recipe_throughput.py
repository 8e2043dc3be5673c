"""Wall time, frames/s and the split of time of the TD3 recipe for objectives rl, il and gild.

Each objective (and collector batch size, ``--frames-per-batch``) runs the same number of frames
with the recipe's defaults otherwise (GILD with its default warm start), interleaved over
``--repeats`` rounds in one process; the figures are medians over rounds, with ratios to the
first objective at the same batch size from the same rounds. "update-only" is the rate the
updates alone would run at (updates / seconds spent updating); the recipe's frames/s divided by
it says how much of the loop is not the update.

    python benchmarks/recipe_throughput.py [--frames 15000] [--random-frames 5000] [--repeats 2]
    python benchmarks/recipe_throughput.py --frames-per-batch 1 10 100 1000 --objectives rl

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
    parser.add_argument("--frames-per-batch", nargs="+", type=int, default=[1000])
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from gild_torchrl import training

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

    cases = [(objective, fpb) for fpb in args.frames_per_batch for objective in args.objectives]
    results = {case: [] for case in cases}
    with initialize_config_dir(config_dir=str(ROOT / "recipes" / "config"), version_base="1.3"):
        for round_ in range(args.repeats):
            for objective, fpb in cases:
                run_dir = workdir / f"{objective}_{fpb}_{round_}"
                cfg = compose("td3_gild", [*overrides, f"loss.objective={objective}", f"collector.frames_per_batch={fpb}",
                                           f"run_dir={run_dir}"])
                result = training.train(cfg)
                results[(objective, fpb)].append(result)
                print(f"round {round_} {objective} {fpb} frames per batch: {result['wall_time']:.1f} s", file=sys.stderr, flush=True)

    def median(case, key):
        return statistics.median(r[key] for r in results[case])

    print(f"TD3 recipe on {args.env}, {args.frames} frames ({args.random_frames} random), {args.threads} thread(s),")
    print(f"{demo_note}; medians over {args.repeats} interleaved rounds\n")
    print("| objective | frames per batch | wall s | frames/s | ratio to first | update-only updates/s | recipe / update-only | "
          + " | ".join(f"{p} %" for p in PARTS) + " | outside the update % |")
    print("|---|---|---|---|---|---|---|" + "---|" * (len(PARTS) + 1))
    for objective, fpb in cases:
        case = (objective, fpb)
        wall = median(case, "wall_time")
        first = median((args.objectives[0], fpb), "wall_time")
        update_rate = median(case, "updates") / median(case, "update")
        learning_rate = median(case, "updates") / wall  # updates per second of the whole run
        shares = [100 * median(case, part) / wall for part in PARTS]
        outside = 100 * sum(median(case, p) for p in ("collect", "sample", "log")) / wall
        print(f"| {objective} | {fpb} | {wall:.1f} | {args.frames / wall:.0f} | {wall / first:.3f}x | {update_rate:.0f} | "
              f"{learning_rate / update_rate:.3f} | " + " | ".join(f"{s:.1f}" for s in shares) + f" | {outside:.1f} |")


if __name__ == "__main__":
    main()
