"""Demonstration collection (GILD spec, "Demonstrations used by the paper"), the body of ``recipes/collect_demos.py``.

Trains TD3 on the dense task with the GILD recipes' own run (``loss.objective=rl``,
``env.sparse=false``: the same builders, checkpoints and config names) until an evaluation meets
``stop.target_return`` (within ``stop.max_return``, and ``stop.target_sparse_return`` when set) or
``collector.total_frames`` is spent, then rolls out ``demo.num_episodes`` episodes of the policy
(deterministic by default, ``demo.noise_std`` adds Gaussian action noise) on the dense task and
saves them, with their dense and sparse returns, via :meth:`gild_torchrl.data.Demonstrations.save`.
With ``demo.policy_checkpoint`` it skips training and rolls out that policy. Calling it again with
the same config resumes from the run's checkpoint. It lives in ``training`` because it is a run:
``data`` holds the sets, and ``training`` may import ``data``, never the reverse.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, open_dict
from torchrl.envs import ExplorationType, set_exploration_type

from gild_torchrl.data import Demonstrations
from gild_torchrl.envs import make_env, sparse_threshold
from gild_torchrl.modules import make_deterministic_actor
from gild_torchrl.training import checkpoint, run
from gild_torchrl.training.run_dir import RESULT_FILE

POLICY_FILE = "policy.pt"


def reached_target(cfg: DictConfig, ev: Mapping[str, float]) -> bool:
    """Dense return in [target_return, max_return], and (when set) sparse return >= target_sparse_return.

    The sparse condition rules out policies that only collect the healthy bonus standing still
    (about 1,000 dense return on Hopper, Walker2d and Ant) and would demonstrate nothing.
    """
    stop = cfg.stop
    if stop.target_return is None:
        return False
    dense = ev["dense_return"]
    ok = dense >= float(stop.target_return) and (stop.max_return is None or dense <= float(stop.max_return))
    return ok and (stop.target_sparse_return is None or ev["sparse_return"] >= float(stop.target_sparse_return))


def save_policy(path: Path, cfg: DictConfig, actor: torch.nn.Module, env, frames: int, ev: Mapping[str, Any] | None) -> None:
    """A policy file: the actor's weights and what is needed to rebuild it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"actor": actor.state_dict(), "task": cfg.env.name,
                "obs_dim": int(env.observation_spec["observation"].shape[-1]), "act_dim": int(env.action_spec.shape[-1]),
                "hidden_sizes": list(cfg.network.hidden_sizes), "frames": int(frames),
                "eval": {k: v for k, v in (ev or {}).items() if k != "dense_returns"}}, path)


def load_policy(path: str | os.PathLike, env, cfg: DictConfig) -> torch.nn.Module:
    """Rebuild the actor of a policy file written by :func:`save_policy`."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as err:
        raise SystemExit(f"error: demo.policy_checkpoint={str(path)!r} cannot be read as a policy file ({err}).") from None
    obs_dim = int(env.observation_spec["observation"].shape[-1])
    if not isinstance(state, dict) or "actor" not in state:
        raise SystemExit(f"error: demo.policy_checkpoint={str(path)!r} holds no 'actor'; expected a {POLICY_FILE} of this recipe.")
    if state.get("obs_dim", obs_dim) != obs_dim:
        raise SystemExit(f"error: {path}: field 'obs_dim' is {state['obs_dim']}, expected {obs_dim} for task {cfg.env.name}.")
    actor = make_deterministic_actor(obs_dim, env.action_spec_unbatched, tuple(state.get("hidden_sizes", cfg.network.hidden_sizes)))
    actor.load_state_dict(state["actor"])
    return actor


def train_behaviour_policy(cfg: DictConfig, run_dir: Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The recipes' run with the ``rl`` objective on the dense task; a policy file at every evaluation."""
    env = make_env(cfg.env.name, sparse=False)
    finished = json.loads((run_dir / RESULT_FILE).read_text()) if (run_dir / RESULT_FILE).is_file() else None
    if finished is not None and (finished.get("stopped") == "target" or finished["frames"] >= cfg.collector.total_frames):
        print(f"[collect_demos] {run_dir} had already finished training ({finished.get('stopped')})", flush=True)
        return load_policy(run_dir / POLICY_FILE, env, cfg), finished
    extend_to = None
    if checkpoint.find(run_dir) is not None:
        with open_dict(cfg):
            cfg.resume = str(run_dir)
        extend_to = cfg.collector.total_frames
        frames = checkpoint.read_progress(checkpoint.find(run_dir)).frames
        print(f"[collect_demos] resumed from {run_dir} at {frames} frames", flush=True)

    def on_evaluation(loss_module, row) -> bool:
        actor = loss_module.base_loss.actor_network
        print(f"[collect_demos] frames={row['frames']} eval dense={row['dense_return']:.1f} "
              f"sparse={row['sparse_return']:.1f} len={row['length']:.0f} x={row['x_final']:.2f}", flush=True)
        save_policy(run_dir / "policies" / f"policy_{row['frames']}.pt", cfg, actor, env, row["frames"], row)
        save_policy(run_dir / POLICY_FILE, cfg, actor, env, row["frames"], row)
        return reached_target(cfg, row)

    result = run(cfg, extend_to=extend_to, on_evaluation=on_evaluation)
    return load_policy(run_dir / POLICY_FILE, env, cfg), result


@torch.no_grad()
def rollout_demos(cfg: DictConfig, actor: torch.nn.Module, output_dir: Path, provenance: dict) -> Demonstrations:
    """Roll out ``demo.num_episodes`` dense-task episodes of ``actor`` and save them."""
    env = make_env(cfg.env.name, sparse=False, seed=int(cfg.demo.seed), threshold=cfg.env.threshold)
    noise = float(cfg.demo.noise_std)
    low, high = env.action_spec.space.low, env.action_spec.space.high
    gen = torch.Generator().manual_seed(int(cfg.demo.seed))

    def policy(td):
        td = actor(td)
        if noise > 0:
            a = td.get("action")
            td.set("action", (a + noise * torch.randn(a.shape, generator=gen)).clamp(low, high))
        return td

    episodes, dense, sparse, lengths, xs, rejected = [], [], [], [], [], []
    min_return = cfg.demo.min_return
    wanted = int(cfg.demo.num_episodes)
    with set_exploration_type(ExplorationType.DETERMINISTIC):
        while len(episodes) < wanted:
            traj = env.rollout(1000, policy, break_when_any_done=True)
            ret = float(traj["next", "dense_reward"].sum())
            if min_return is not None and ret < float(min_return):
                # e.g. a HalfCheetah that flips over: recorded in the metadata, not kept
                rejected.append(ret)
                if len(rejected) > 3 * wanted:
                    raise SystemExit(f"error: {len(rejected)} episodes below demo.min_return={min_return}; "
                                     f"expected a policy whose episodes reach it.")
                continue
            episodes.append(traj)
            dense.append(ret)
            sparse.append(float(traj["next", "sparse_reward"].sum()))
            lengths.append(int(traj.shape[0]))
            xs.append(float(traj["next", "x_position"][-1]))
    keys = ["observation", "action", ("next", "reward"), ("next", "done"), ("next", "terminated"), ("next", "truncated")]
    if cfg.demo.keep_next_observation:
        keys.append(("next", "observation"))
    try:
        threshold = cfg.env.threshold or sparse_threshold(cfg.env.name)
    except KeyError:
        threshold = None
    demos = Demonstrations.from_episodes(
        episodes, task=str(cfg.env.name), returns=dense, keys=keys,
        extra_meta={
            "sparse_returns": sparse, "episode_lengths": lengths, "final_x_positions": xs, "sparse_threshold": threshold,
            "rollout_policy": "deterministic" if noise == 0 else f"deterministic + N(0, {noise}) action noise",
            "min_return": min_return, "rejected_returns": rejected, "provenance": provenance,
        },
    )
    demos.validate_for_env(env)
    env.close()
    demos.save(output_dir, compress=bool(cfg.demo.compress))
    if cfg.demo.minari_id:  # also a local Minari dataset (under $MINARI_DATASETS_PATH)
        demos.to_minari(str(cfg.demo.minari_id), env_id=cfg.env.name)
    return demos


def collect(cfg: DictConfig) -> dict[str, Any]:
    """Train (or load) the behaviour policy, roll out its demonstrations, and write ``summary.json``."""
    start = time.time()
    run_dir = Path(cfg.run_dir)
    provenance = {"recipe": "recipes/collect_demos.py", "command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]),
                  "seed": int(cfg.seed), "torch": torch.__version__}
    if cfg.demo.policy_checkpoint:
        env = make_env(cfg.env.name, sparse=False)
        actor = load_policy(cfg.demo.policy_checkpoint, env, cfg)
        env.close()
        provenance["policy_checkpoint"] = str(cfg.demo.policy_checkpoint)
        summary = {"frames": None, "stopped": "checkpoint"}
    else:
        actor, summary = train_behaviour_policy(cfg, run_dir)
        provenance.update({"training_frames": summary["frames"], "stopped": summary.get("stopped"),
                           "last_eval": {k: summary[k] for k in ("dense_return", "sparse_return", "length", "x_final") if k in summary},
                           "policy_checkpoint": str(run_dir / POLICY_FILE)})
    output_dir = Path(cfg.demo.output_dir)
    demos = rollout_demos(cfg, actor, output_dir, provenance)
    result = {
        "output_dir": str(output_dir), "task": cfg.env.name, "seed": int(cfg.seed),
        "training_frames": summary.get("frames"), "stopped": summary.get("stopped"), "wall_time_s": time.time() - start,
        "transitions": len(demos), "dense_returns": demos.returns, "sparse_returns": demos.meta["sparse_returns"],
        "mean_dense_return": float(np.mean(demos.returns)),
        "size_bytes": sum(f.stat().st_size for f in output_dir.rglob("*") if f.is_file()),
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "summary.json").write_text(json.dumps(result, indent=2))
    print("[collect_demos] " + json.dumps(result), flush=True)
    return result
