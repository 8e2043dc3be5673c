"""What a run's loop outside the update costs per frame, part by part, down to TorchRL's own floor.

Each part is timed alone for the same frames (sparse Hopper, one thread, medians over rounds):
Gymnasium's step (what ``benchmarks/plain_loop.py`` pays), TorchRL's ``Collector`` over a bare
``GymWrapper`` with random actions (TorchRL's floor: no info entries, no transforms, no policy),
the same over the project's training env (:func:`gild_torchrl.envs.make_env`), that env with the
recipe's exploration policy (the recipe's collection), TorchRL's replay buffer storing a batch
of 10 frames and sampling 256 rows of the entries the loss reads (the recipe's) beside a
preallocated tensor buffer's sample (the plain loop's), and the plain TD3 update. From these it
prints the share of a frame's time (collection, store, sample and update, one update per frame)
that the loop outside the update takes, for the recipe's parts and for TorchRL's floor.

    python -m benchmarks.collection_floor [--frames 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import torch
from torchrl.collectors import Collector
from torchrl.data import LazyTensorStorage, TensorDictReplayBuffer
from torchrl.envs.libs.gym import GymWrapper

from benchmarks.plain_loop import TensorReplay
from benchmarks.plain_reference import PLAIN
from gild_torchrl.envs import make_env, register_sparse_envs
from gild_torchrl.algorithms.td3 import make_td3_loss
from gild_torchrl.modules.exploration import make_noisy_actor
from gild_torchrl.training.session import skip_absent_pandas_probe

REPLAY_KEYS = ["observation", "action", ("next", "observation"), ("next", "reward"), ("next", "done"),
               ("next", "terminated")]


def per_call_ms(run: Callable[[], int], rounds: int) -> float:
    """Median over ``rounds`` of the milliseconds per unit (``run`` returns how many units it did)."""
    run()  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        units = run()
        times.append((time.perf_counter() - start) * 1e3 / units)
    return statistics.median(times)


def gymnasium_steps(frames: int) -> Callable[[], int]:
    env = gym.make("SparseHopper-v5")
    env.reset(seed=0)
    actions = torch.rand(frames, 3).mul(2).sub(1).numpy()

    def run() -> int:
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        return frames
    return run


def collection(env, policy, frames: int) -> Callable[[], int]:
    collector = Collector(env, policy, frames_per_batch=10, total_frames=-1)

    def run() -> int:
        collected = 0
        for data in collector:
            collected += data.numel()
            if collected >= frames:
                return collected
        return collected
    return run


def replay_parts(frames: int) -> tuple[Callable[[], int], Callable[[], int], Callable[[], int]]:
    env = make_env("Hopper-v5", seed=0)
    data = env.rollout(frames, break_when_any_done=False).select(*REPLAY_KEYS)
    buffer = TensorDictReplayBuffer(storage=LazyTensorStorage(100_000), batch_size=256)
    buffer.extend(data)
    plain = TensorReplay(100_000, 11, 3)
    for row in data[:frames]:
        plain.add(row["observation"].numpy(), row["action"].numpy(), float(row["next", "reward"]),
                  row["next", "observation"].numpy(), bool(row["next", "terminated"]))

    def store() -> int:
        for start in range(0, frames, 10):
            buffer.extend(data[start:start + 10])
        return frames // 10

    def sample() -> int:
        for _ in range(frames // 4):
            buffer.sample()
        return frames // 4

    def plain_sample() -> int:
        for _ in range(frames // 4):
            plain.sample(256)
        return frames // 4
    return store, sample, plain_sample


def plain_update(updates: int) -> Callable[[], int]:
    agent = PLAIN["td3"](11, 3)
    batch = [torch.randn(256, 11), torch.rand(256, 3) * 2 - 1, torch.randn(256, 1), torch.randn(256, 11),
             torch.zeros(256, 1, dtype=torch.bool)]

    def run() -> int:
        for _ in range(updates):
            agent.update(*batch)
        return updates
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    register_sparse_envs()
    skip_absent_pandas_probe()
    frames, rounds = args.frames, args.rounds

    project_env = make_env("Hopper-v5", seed=0)
    actor = make_td3_loss(11, project_env.action_spec_unbatched).actor_network
    store, sample, plain_sample = replay_parts(frames)
    ms = {
        "gymnasium step": per_call_ms(gymnasium_steps(frames), rounds),
        "TorchRL collector, bare GymWrapper, random actions": per_call_ms(
            collection(GymWrapper(gym.make("SparseHopper-v5")), None, frames), rounds),
        "TorchRL collector, make_env, random actions": per_call_ms(collection(project_env, None, frames), rounds),
        "TorchRL collector, make_env, exploration policy": per_call_ms(
            collection(make_env("Hopper-v5", seed=0), make_noisy_actor(actor, std=0.1), frames), rounds),
        "replay store (per 10 frames)": per_call_ms(store, rounds),
        "replay sample(256)": per_call_ms(sample, rounds),
        "plain tensor sample(256)": per_call_ms(plain_sample, rounds),
        "plain TD3 update": per_call_ms(plain_update(max(frames // 4, 50)), rounds),
    }
    print(f"per-frame costs, sparse Hopper, 1 thread, median of {rounds} rounds of {frames} frames (ms):")
    print("| part | ms |\n|---|---|")
    for name, value in ms.items():
        print(f"| {name} | {value:.3f} |")
    update = ms["plain TD3 update"]
    store_per_frame = ms["replay store (per 10 frames)"] / 10

    def share(collect: float, sample_ms: float, store_ms: float) -> float:
        outside = collect + sample_ms + store_ms
        return 100 * outside / (outside + update)
    print("\nloop outside the update, as a share of a frame (one update per frame, the plain update):")
    print("| loop | outside ms per frame | outside % |\n|---|---|---|")
    rows = {
        "plain loop (Gymnasium step, tensor sample)": (ms["gymnasium step"], ms["plain tensor sample(256)"], 0.0),
        "recipe (make_env + exploration policy, TorchRL replay)": (
            ms["TorchRL collector, make_env, exploration policy"], ms["replay sample(256)"], store_per_frame),
        "TorchRL floor (bare GymWrapper, random actions, TorchRL replay)": (
            ms["TorchRL collector, bare GymWrapper, random actions"], ms["replay sample(256)"], store_per_frame),
    }
    for name, parts in rows.items():
        print(f"| {name} | {sum(parts):.3f} | {share(*parts):.1f} |")


if __name__ == "__main__":
    main()
