"""Median milliseconds per full update for base, +IL, +GILD and +Meta-Critic on DDPG, TD3 and SAC.

A full update is what a recipe does per gradient step: the loss, one backward of the summed
``loss_*`` entries, every optimizer's step, and the target networks' soft update (on actor
updates). Hopper-sized problem (observation 11, action 3), batch 256, 256x256 networks.
Variants are interleaved in one process so that the machine's load hits them alike; each
figure is the median over rounds of the mean time of ``--updates`` consecutive updates.

    python benchmarks/update_step.py [--threads 2] [--rounds 15] [--updates 20]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from tensordict import TensorDict
from torchrl.objectives import SoftUpdate

from gild_torchrl.modules import make_action_spec, make_base_loss
from gild_torchrl.objectives import BaseLossWrapper, GILDLoss, ILLoss, MetaCriticLoss, make_batch

OBSERVATION_DIM, ACTION_DIM, BATCH = 11, 3, 256
VARIANTS = ("base", "+IL", "+GILD", "+Meta-Critic", "+GILD after warm start", "+GILD, diagnostics off")


def make_variant(algorithm: str, variant: str):
    base = make_base_loss(algorithm, OBSERVATION_DIM, make_action_spec(ACTION_DIM))
    dims = {"observation_dim": OBSERVATION_DIM, "action_dim": ACTION_DIM}
    if variant == "base":
        loss = BaseLossWrapper(base)
    elif variant == "+IL":
        loss = ILLoss(base)
    elif variant == "+GILD":
        loss = GILDLoss(base, **dims)
    elif variant == "+Meta-Critic":
        loss = MetaCriticLoss(base, **dims)
    elif variant == "+GILD after warm start":
        loss = GILDLoss(base, **dims, warm_start=0)
    else:  # the periodic gild/ diagnostics (every 100 updates by default) switched off
        loss = GILDLoss(base, **dims, diagnostics_interval=0)
    optimizers = [torch.optim.Adam(base.actor_network_params.values(True, True), lr=3e-4),
                  torch.optim.Adam(loss.base_loss.parameters(), lr=3e-4)]
    meta = getattr(loss, "network_params", None)
    if meta is not None:
        optimizers.append(torch.optim.Adam(meta.values(True, True), lr=1e-4, weight_decay=1e-4))
    # the critic optimiser above also holds the actor; keep the groups disjoint as a recipe would
    critic = [p for n, p in base.named_parameters() if not n.startswith("actor_network_params")]
    optimizers[1] = torch.optim.Adam(critic, lr=3e-4)
    updater = SoftUpdate(base, tau=0.005)
    return loss, optimizers, updater


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


def update(loss, optimizers, updater, batch) -> None:
    out = loss(batch)
    total = sum(value for key, value in out.items() if key.startswith("loss_"))
    for optimizer in optimizers:
        optimizer.zero_grad(set_to_none=True)
    total.backward()
    for optimizer in optimizers:
        optimizer.step()
    if "loss_actor" in out.keys():
        updater.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--updates", type=int, default=20, help="consecutive updates timed per round")
    parser.add_argument("--algorithms", nargs="+", default=["ddpg", "td3", "sac"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    warnings.filterwarnings("ignore")
    generator = torch.Generator().manual_seed(0)
    batches = [make_input(generator) for _ in range(8)]

    print(f"torch {torch.__version__}, {args.threads} threads, batch {BATCH}, obs {OBSERVATION_DIM}, act {ACTION_DIM}")
    print(f"median ms per update over {args.rounds} rounds of {args.updates} updates (ratio to base)\n")
    print(f"| algorithm | {' | '.join(VARIANTS)} |")
    print("|---|" + "---|" * len(VARIANTS))
    for algorithm in args.algorithms:
        setups = {variant: make_variant(algorithm, variant) for variant in VARIANTS}
        times = {variant: [] for variant in VARIANTS}
        for setup in setups.values():  # warm-up
            for i in range(10):
                update(*setup, batches[i % len(batches)])
        for _ in range(args.rounds):
            for variant, setup in setups.items():
                start = time.perf_counter()
                for i in range(args.updates):
                    update(*setup, batches[i % len(batches)])
                times[variant].append((time.perf_counter() - start) / args.updates * 1e3)
        medians = {variant: statistics.median(values) for variant, values in times.items()}
        cells = [f"{medians[v]:.2f} ms ({medians[v] / medians['base']:.2f}x)" for v in VARIANTS]
        print(f"| {algorithm.upper()} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
