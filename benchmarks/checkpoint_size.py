"""Time and size on disk of a recipe checkpoint with a full 1e6-transition replay buffer (sparse Hopper, TD3).

    python benchmarks/checkpoint_size.py [--rows 1000000]

The buffer is filled with real transitions of the recipe's environment (1,000 collected with
random actions, tiled), so each row has the keys and dtypes a real run stores. The objective is Meta-Critic, whose
meta network is the size of GILD's, so that no demonstration set is needed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from gild_torchrl import training
    from gild_torchrl.training import checkpoint
    from gild_torchrl.training.run_dir import Progress

    workdir = Path(tempfile.mkdtemp(prefix="gild_checkpoint_"))
    with initialize_config_dir(config_dir=str(ROOT / "recipes" / "config"), version_base="1.3"):
        cfg = compose("td3_gild", ["loss.objective=meta_critic", f"run_dir={workdir}"])
    from gild_torchrl.envs import make_env

    env = make_env(cfg.env.name, sparse=True, seed=0)
    rows = env.rollout(1000, break_when_any_done=False).reshape(-1)
    loss = training.make_loss_module(cfg, env, None)
    optimizers = training.make_optimizers(cfg, loss)
    buffer = training.make_replay_buffer(OmegaConf.merge(cfg, {"replay_buffer": {"size": args.rows}, "collector": {"total_frames": args.rows}}))
    for _ in range(args.rows // rows.numel()):
        buffer.extend(rows)
    seconds = []
    for _ in range(args.repeats):
        seconds.append(checkpoint.save(workdir, cfg, loss, optimizers, buffer, Progress(frames=args.rows)))
    size = sum(f.stat().st_size for f in (workdir / "checkpoint").rglob("*") if f.is_file())
    checks = []
    for _ in range(args.repeats):  # what a resume pays to check every file against the manifest
        start = time.perf_counter()
        assert checkpoint.damage(workdir / "checkpoint") is None
        checks.append(time.perf_counter() - start)
    shutil.rmtree(workdir)
    print(f"{len(buffer)} transitions ({len(rows.keys(True, True))} keys each): checkpoint "
          f"{size / 2**20:.0f} MiB, median write {statistics.median(seconds):.1f} s over {args.repeats} writes, "
          f"median check {statistics.median(checks):.2f} s")


if __name__ == "__main__":
    main()
