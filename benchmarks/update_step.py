"""Median milliseconds per full update: plain PyTorch, and the project's base, +IL, +GILD and +Meta-Critic.

A full update is what a recipe does per gradient step: the loss, one backward of the summed
``loss_*`` entries, every optimizer's step, and the target networks' soft update (on actor
updates); the project's variants run the recipe's own ``update()`` and optimizers. ``plain`` is
the same algorithm written directly in PyTorch (``benchmarks/plain_reference.py``): the floor.
Hopper-sized problem (observation 11, action 3), batch 256, 256x256 networks. Variants are
interleaved in one process so that the machine's load hits them alike; each figure is the
median over rounds of the mean time of ``--updates`` consecutive updates.

    python -m benchmarks.update_step [--threads 1] [--rounds 15] [--updates 20]
    python -m benchmarks.update_step --profile +GILD --algorithms td3   # where the time goes
    python -m benchmarks.update_step --arithmetic --algorithms td3      # matrix-product FLOPs against time

``--arithmetic`` says how much of a variant's cost is the arithmetic its objective asks for: the
floating-point operations of its matrix products (``aten::addmm``/``mm``/``bmm``/``baddbmm``, counted
by torch.profiler) per update, against plain PyTorch's, beside the same ratio of milliseconds. Where
the two ratios are close, what the update costs is the products the spec's pseudo-actor, lookahead
and meta-gradient steps compute, not overhead around them.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections import Counter
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from tensordict import TensorDict

from benchmarks.plain_reference import PLAIN
from gild_torchrl import training
from gild_torchrl.algorithms import make_base_loss
from gild_torchrl.modules import make_action_spec
from gild_torchrl.objectives import BaseLossWrapper, GILDLoss, ILLoss, MetaCriticLoss, make_batch

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
OBSERVATION_DIM, ACTION_DIM, BATCH = 11, 3, 256
VARIANTS = ("plain", "base", "+IL", "+GILD", "+Meta-Critic", "+GILD after warm start")


def make_variant(algorithm: str, variant: str):
    """A callable running one full update of ``variant`` on a batch."""
    if variant == "plain":
        plain = PLAIN[algorithm](OBSERVATION_DIM, ACTION_DIM)

        def step(batch):
            nxt = batch["next"]
            plain.update(batch["observation"], batch["action"], nxt["reward"], nxt["observation"], nxt["terminated"])

        return step
    base = make_base_loss(algorithm, OBSERVATION_DIM, make_action_spec(ACTION_DIM))
    dims = {"observation_dim": OBSERVATION_DIM, "action_dim": ACTION_DIM}
    loss = {
        "base": lambda: BaseLossWrapper(base),
        "+IL": lambda: ILLoss(base),
        "+GILD": lambda: GILDLoss(base, **dims),
        "+Meta-Critic": lambda: MetaCriticLoss(base, **dims),
        "+GILD after warm start": lambda: GILDLoss(base, **dims, warm_start=0),
    }[variant]()
    with initialize_config_dir(config_dir=str(RECIPES / "config"), version_base="1.3"):
        cfg = compose(config_name=f"{algorithm}_gild")
    optimizers = training.make_optimizers(cfg, loss)
    updater = training.make_target_updater(cfg, loss)
    skipped = Counter()
    return lambda batch: training.update(loss, optimizers, updater, batch, skipped)


def make_input(generator: torch.Generator) -> TensorDict:
    def randn(*shape):
        return torch.randn(*shape, generator=generator)

    replay = TensorDict(
        {
            "observation": randn(BATCH, OBSERVATION_DIM),
            "action": randn(BATCH, ACTION_DIM).clamp(-1, 1),
            "next": {
                "observation": randn(BATCH, OBSERVATION_DIM),
                "reward": randn(BATCH, 1),
                "done": torch.zeros(BATCH, 1, dtype=torch.bool),
                "terminated": torch.zeros(BATCH, 1, dtype=torch.bool),
            },
        },
        [BATCH],
    )
    demo = TensorDict({"observation": randn(BATCH, OBSERVATION_DIM), "action": randn(BATCH, ACTION_DIM).clamp(-1, 1)}, [BATCH])
    validation = TensorDict({"observation": randn(BATCH, OBSERVATION_DIM)}, [BATCH])
    return make_batch(replay, demo, validation)


def profile(algorithm: str, variant: str, steps, batches, updates: int) -> None:
    """torch.profiler over ``updates`` updates: the top ops by self CPU time, and aten time against wall time."""
    from torch.profiler import ProfilerActivity, profile as torch_profile

    for i in range(10):
        steps[variant](batches[i % len(batches)])
    start = time.perf_counter()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(updates):
            steps[variant](batches[i % len(batches)])
    wall = (time.perf_counter() - start) / updates * 1e3
    events = prof.key_averages()
    aten = sum(e.self_cpu_time_total for e in events if e.key.startswith("aten::")) / updates / 1e3
    print(f"{algorithm} {variant}: {wall:.2f} ms per update under the profiler; time inside aten ops "
          f"{aten:.2f} ms ({aten / wall:.0%}); the rest is Python and dispatch\n")
    print(events.table(sort_by="self_cpu_time_total", row_limit=25))


def arithmetic(algorithm: str, steps, batches, updates: int) -> None:
    """Per variant: matrix-product GFLOP per update and milliseconds per update, each with its ratio to plain."""
    from torch.profiler import ProfilerActivity, profile as torch_profile

    figures = {}
    for variant, step in steps.items():
        for i in range(10):
            step(batches[i % len(batches)])
        with torch_profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
            for i in range(updates):
                step(batches[i % len(batches)])
        flops = sum(e.flops for e in prof.key_averages() if e.key in GEMM_OPS) / updates
        start = time.perf_counter()
        for i in range(updates):
            step(batches[i % len(batches)])
        figures[variant] = (flops / 1e9, (time.perf_counter() - start) / updates * 1e3)
    plain_flops, plain_ms = figures.get("plain", (float("nan"), float("nan")))
    print(f"| algorithm | variant | GEMM GFLOP per update | ratio to plain | ms per update | ratio to plain |")
    print("|---|---|---|---|---|---|")
    for variant, (gflop, ms) in figures.items():
        print(f"| {algorithm.upper()} | {variant} | {gflop:.3f} | {gflop / plain_flops:.2f}x | {ms:.2f} | {ms / plain_ms:.2f}x |",
              flush=True)


GEMM_OPS = ("aten::addmm", "aten::mm", "aten::bmm", "aten::baddbmm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--updates", type=int, default=20, help="consecutive updates timed per round")
    parser.add_argument("--algorithms", nargs="+", default=["ddpg", "td3", "sac"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--profile", metavar="VARIANT", choices=VARIANTS, help="profile one variant instead of timing")
    parser.add_argument("--arithmetic", action="store_true",
                        help="matrix-product FLOPs per update against time, each as a ratio to plain")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    warnings.filterwarnings("ignore")
    generator = torch.Generator().manual_seed(0)
    batches = [make_input(generator) for _ in range(8)]
    variants = [args.profile] if args.profile else args.variants

    if not args.profile and not args.arithmetic:
        print(f"torch {torch.__version__}, {args.threads} threads, batch {BATCH}, obs {OBSERVATION_DIM}, act {ACTION_DIM}")
        print(f"median ms per update over {args.rounds} rounds of {args.updates} updates "
              f"(ratio to the project's base update; to plain PyTorch)\n")
        print(f"| algorithm | {' | '.join(variants)} |")
        print("|---|" + "---|" * len(variants))
    for algorithm in args.algorithms:
        steps = {variant: make_variant(algorithm, variant) for variant in variants}
        if args.profile:
            profile(algorithm, args.profile, steps, batches, args.updates)
            continue
        if args.arithmetic:
            arithmetic(algorithm, steps, batches, args.updates)
            continue
        times = {variant: [] for variant in variants}
        for step in steps.values():  # warm-up
            for i in range(10):
                step(batches[i % len(batches)])
        for _ in range(args.rounds):
            for variant, step in steps.items():
                start = time.perf_counter()
                for i in range(args.updates):
                    step(batches[i % len(batches)])
                times[variant].append((time.perf_counter() - start) / args.updates * 1e3)
        medians = {variant: statistics.median(values) for variant, values in times.items()}
        cells = []
        for v in variants:
            ratios = [f"{medians[v] / medians[r]:.2f}x {name}" for r, name in (("base", "base"), ("plain", "plain"))
                      if r in medians and r != v]
            cells.append(f"{medians[v]:.2f} ms" + (f" ({', '.join(ratios)})" if ratios else ""))
        print(f"| {algorithm.upper()} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
