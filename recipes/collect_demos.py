"""Generate sub-optimal demonstrations with TD3 (GILD spec, "Demonstrations used by the paper").

Trains TD3 on the dense task until the mean evaluation return reaches ``train.target_return``
(within ``train.max_return`` when set) or ``collector.total_frames`` is spent, then rolls out
``demo.num_episodes`` episodes of the policy (deterministic by default, ``demo.noise_std`` adds
Gaussian action noise) on the dense task and saves them, with their dense and sparse returns,
via :meth:`gild_torchrl.data.Demonstrations.save`. With ``demo.policy_checkpoint`` it skips
training and rolls out that policy.

Long runs survive interruptions: every ``train.checkpoint_interval`` frames the models,
optimizers, counters and the replay buffer are written to ``run_dir``; re-running the same
command resumes from there.

    python recipes/collect_demos.py env.name=Hopper-v5 train.target_return=1500 train.max_return=2000
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import sys
import time
from pathlib import Path

import hydra
import numpy as np
import torch
import tqdm
from omegaconf import DictConfig, OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `utils` when run from anywhere

from utils import (  # noqa: E402
    cfg_get,
    evaluate,
    load_checkpoint,
    log_metrics,
    make_collector,
    make_environment,
    make_optimizers,
    make_replay_buffer,
    make_td3_loss,
    make_td3_models,
    save_checkpoint,
    set_num_threads,
)

from gild_torchrl.data import Demonstrations  # noqa: E402
from gild_torchrl.envs import make_env, sparse_threshold  # noqa: E402


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def _load_buffer_rows(path: Path):
    """The filled rows of a ``ReplayBuffer.dumps`` directory (robust to a changed buffer size)."""
    from tensordict import TensorDict

    length = int(json.loads((path / "storage" / "storage_metadata.json").read_text())["len"])
    rows = TensorDict.load_memmap(path / "storage")[:length].clone()
    return rows.exclude("index") if "index" in rows.keys() else rows


def _policy_payload(cfg: DictConfig, model: torch.nn.Module, env, frames: int, eval_metrics: dict | None) -> dict:
    """What a policy checkpoint holds: the actor weights and what is needed to rebuild it."""
    return {
        "actor": model[0].state_dict(),
        "task": cfg.env.name,
        "obs_dim": int(env.observation_spec["observation"].shape[-1]),
        "act_dim": int(env.action_spec.shape[-1]),
        "hidden_sizes": list(cfg.network.hidden_sizes),
        "frames": int(frames),
        "eval": eval_metrics,
    }


def _reached_target(cfg: DictConfig, ev: dict) -> bool:
    """Dense return in [target_return, max_return], and (when set) sparse return >= target_sparse_return.

    The sparse condition rules out policies that only collect the healthy bonus standing still
    (about 1,000 dense return on Hopper, Walker2d and Ant) and would demonstrate nothing.
    """
    target = cfg_get(cfg, "train.target_return")
    upper = cfg_get(cfg, "train.max_return")
    sparse_target = cfg_get(cfg, "train.target_sparse_return")
    if target is None:
        return False
    dense = ev["dense_return"]
    ok = dense >= float(target) and (upper is None or dense <= float(upper))
    return ok and (sparse_target is None or ev["sparse_return"] >= float(sparse_target))


def train(cfg: DictConfig, run_dir: Path, logger) -> tuple[torch.nn.Module, dict]:
    """TD3 on the dense task with periodic evaluation and resumable checkpoints."""
    device = torch.device(cfg_get(cfg, "collector.device", "cpu") or "cpu")
    train_env, eval_env = make_environment(cfg.env, device=device)
    model, actor_explore = make_td3_models(
        train_env, tuple(cfg.network.hidden_sizes), float(cfg.network.exploration_std), device=device
    )
    loss, target_updater = make_td3_loss(model, cfg)
    opt_actor, opt_critic = make_optimizers(loss, cfg)
    total_frames = int(cfg.collector.total_frames)
    rb = make_replay_buffer(
        batch_size=int(cfg.replay_buffer.batch_size),
        buffer_size=min(int(cfg.replay_buffer.size), total_frames + int(cfg.collector.frames_per_batch)),
        scratch_dir=None,  # in memory; checkpoints dump it to run_dir/replay_buffer
        device=device,
    )
    ckpt_path = run_dir / "checkpoint.pt"
    frames, updates, last_eval = 0, 0, None
    history: list[dict] = []
    if bool(cfg_get(cfg, "train.resume", True)) and ckpt_path.is_file():
        state = load_checkpoint(ckpt_path)
        model.load_state_dict(state["model"])
        loss.load_state_dict(state["loss"])
        opt_actor.load_state_dict(state["opt_actor"])
        opt_critic.load_state_dict(state["opt_critic"])
        frames, updates, history = state["frames"], state["updates"], state["history"]
        last_eval = history[-1] if history else None
        rb.extend(_load_buffer_rows(run_dir / "replay_buffer"))
        _set_rng_state(state["rng"])
        print(f"[collect_demos] resumed from {ckpt_path} at {frames} frames ({len(rb)} transitions in the buffer)", flush=True)
        target_met = state.get("stopped") == "target" and last_eval is not None and _reached_target(cfg, last_eval)
        if state.get("done") and (target_met or frames >= total_frames):
            print(f"[collect_demos] the checkpointed run had already finished training ({state.get('stopped')})", flush=True)
            return model, {"frames": frames, "history": history, "last_eval": last_eval, "stopped": state.get("stopped")}

    def checkpoint(done: bool = False, stopped: str | None = None) -> None:
        rb_dir = run_dir / "replay_buffer"
        tmp_dir = run_dir / "replay_buffer.tmp"
        shutil.rmtree(tmp_dir, ignore_errors=True)
        rb.dumps(str(tmp_dir))
        shutil.rmtree(rb_dir, ignore_errors=True)
        os.replace(tmp_dir, rb_dir)
        save_checkpoint(
            ckpt_path,
            model=model.state_dict(), loss=loss.state_dict(), opt_actor=opt_actor.state_dict(),
            opt_critic=opt_critic.state_dict(), frames=frames, updates=updates, history=history,
            rng=_rng_state(), done=done, stopped=stopped, config=OmegaConf.to_container(cfg, resolve=True),
        )

    stopped = None
    if frames >= total_frames:
        stopped = "budget"
    else:
        collector = make_collector(cfg, train_env, actor_explore, collected_frames=frames)
        eval_interval = int(cfg.train.eval_interval)
        ckpt_interval = int(cfg.train.checkpoint_interval)
        delay = int(cfg.optim.policy_update_delay)
        utd = float(cfg.optim.utd_ratio)
        pbar = tqdm.tqdm(total=total_frames, initial=frames, disable=not cfg.logger.progress_bar,
                         mininterval=10, file=sys.stdout, dynamic_ncols=False)
        t0 = time.time()
        for batch in collector:
            batch = batch.reshape(-1)
            n = batch.numel()
            rb.extend(batch.cpu())
            prev_frames, frames = frames, frames + n
            pbar.update(n)
            metrics: dict = {}
            if frames >= int(cfg.collector.init_random_frames):
                q_losses, a_losses = [], []
                for _ in range(int(round(n * utd))):
                    updates += 1
                    sample = rb.sample().clone()
                    q_loss, *_ = loss.value_loss(sample)
                    opt_critic.zero_grad()
                    q_loss.backward()
                    opt_critic.step()
                    q_losses.append(q_loss.item())
                    if updates % delay == 0:
                        a_loss, *_ = loss.actor_loss(sample)
                        opt_actor.zero_grad()
                        a_loss.backward()
                        opt_actor.step()
                        target_updater.step()
                        a_losses.append(a_loss.item())
                metrics["train/q_loss"] = float(np.mean(q_losses)) if q_losses else math.nan
                if a_losses:
                    metrics["train/a_loss"] = float(np.mean(a_losses))
            ends = batch["next", "done"].reshape(-1)
            if bool(ends.any()):
                metrics["train/dense_return"] = float(batch["next", "episode_dense_reward"].reshape(-1)[ends].mean())
                metrics["train/sparse_return"] = float(batch["next", "episode_sparse_reward"].reshape(-1)[ends].mean())
                metrics["train/episode_length"] = float(batch["next", "step_count"].reshape(-1)[ends].float().mean())
            reached = False
            if frames // eval_interval > prev_frames // eval_interval or frames >= total_frames:
                ev = evaluate(model[0], eval_env, int(cfg.train.eval_episodes))
                last_eval = {"frames": frames, "updates": updates, "time": time.time() - t0, **ev}
                history.append(last_eval)
                metrics.update({"eval/dense_return": ev["dense_return"], "eval/sparse_return": ev["sparse_return"],
                                "eval/length": ev["length"], "eval/x_final": ev["x_final"]})
                pbar.write(f"[collect_demos] frames={frames} eval dense={ev['dense_return']:.1f} "
                           f"sparse={ev['sparse_return']:.1f} len={ev['length']:.0f} x={ev['x_final']:.2f}")
                save_checkpoint(run_dir / "policies" / f"policy_{frames}.pt",
                                **_policy_payload(cfg, model, eval_env, frames, last_eval))
                reached = _reached_target(cfg, ev)
            metrics["time/elapsed"] = time.time() - t0
            log_metrics(logger, metrics, frames)
            if reached:
                stopped = "target"
                break
            if frames // ckpt_interval > prev_frames // ckpt_interval:
                checkpoint()
            if frames >= total_frames:
                stopped = "budget"
                break
        pbar.close()
        collector.shutdown()
        checkpoint(done=True, stopped=stopped)
    train_env.close()
    eval_env.close()
    return model, {"frames": frames, "history": history, "last_eval": last_eval, "stopped": stopped}


def load_policy(path: str | os.PathLike, env, cfg: DictConfig) -> torch.nn.Module:
    """Rebuild the actor from a policy.pt (or a training checkpoint.pt)."""
    state = load_checkpoint(path)
    hidden = tuple(state.get("hidden_sizes", cfg.network.hidden_sizes))
    model, _ = make_td3_models(env, hidden, 0.0)
    if "actor" in state:
        obs_dim = int(env.observation_spec["observation"].shape[-1])
        if state.get("obs_dim", obs_dim) != obs_dim:
            raise ValueError(f"{path}: field 'obs_dim' is {state['obs_dim']}, expected {obs_dim} for task {cfg.env.name}")
        model[0].load_state_dict(state["actor"])
    elif "model" in state:
        model.load_state_dict(state["model"])
    else:
        raise ValueError(f"{path}: expected a policy checkpoint with field 'actor' or a training checkpoint with field 'model'")
    return model[0]


@torch.no_grad()
def rollout_demos(cfg: DictConfig, actor: torch.nn.Module, output_dir: Path, provenance: dict) -> Demonstrations:
    """Roll out ``demo.num_episodes`` dense-task episodes of ``actor`` and save them."""
    from torchrl.envs import ExplorationType, set_exploration_type

    env = make_env(cfg.env.name, sparse=False, seed=int(cfg.demo.seed), threshold=cfg_get(cfg, "env.threshold"))
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
    min_return = cfg_get(cfg, "demo.min_return")
    wanted = int(cfg.demo.num_episodes)
    with set_exploration_type(ExplorationType.DETERMINISTIC):
        while len(episodes) < wanted:
            traj = env.rollout(1000, policy, break_when_any_done=True)
            ret = float(traj["next", "dense_reward"].sum())
            if min_return is not None and ret < float(min_return):
                # e.g. a HalfCheetah that flips over: recorded in the metadata, not kept
                rejected.append(ret)
                if len(rejected) > 3 * wanted:
                    raise RuntimeError(f"collect_demos: {len(rejected)} episodes below demo.min_return={min_return}")
                continue
            episodes.append(traj)
            dense.append(float(traj["next", "dense_reward"].sum()))
            sparse.append(float(traj["next", "sparse_reward"].sum()))
            lengths.append(int(traj.shape[0]))
            xs.append(float(traj["next", "x_position"][-1]))
    keys = ["observation", "action", ("next", "reward"), ("next", "done"), ("next", "terminated"), ("next", "truncated")]
    if cfg.demo.keep_next_observation:
        keys.append(("next", "observation"))
    try:
        threshold = cfg_get(cfg, "env.threshold") or sparse_threshold(cfg.env.name)
    except KeyError:
        threshold = None
    demos = Demonstrations.from_episodes(
        episodes,
        task=str(cfg.env.name),
        returns=dense,
        keys=keys,
        extra_meta={
            "sparse_returns": sparse,
            "episode_lengths": lengths,
            "final_x_positions": xs,
            "sparse_threshold": threshold,
            "rollout_policy": "deterministic" if noise == 0 else f"deterministic + N(0, {noise}) action noise",
            "min_return": min_return,
            "rejected_returns": rejected,
            "provenance": provenance,
        },
    )
    demos.validate_for_env(env)
    env.close()
    demos.save(output_dir, compress=bool(cfg.demo.compress))
    if cfg_get(cfg, "demo.minari_id"):  # also a local Minari dataset (under $MINARI_DATASETS_PATH)
        demos.to_minari(str(cfg.demo.minari_id), env_id=cfg.env.name)
    return demos


def run(cfg: DictConfig) -> dict:
    set_num_threads(cfg_get(cfg, "threads", 1))
    torch.manual_seed(int(cfg.env.seed))
    np.random.seed(int(cfg.env.seed))
    random.seed(int(cfg.env.seed))
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    provenance = {
        "recipe": "recipes/collect_demos.py",
        "command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]),
        "seed": int(cfg.env.seed),
        "torch": torch.__version__,
    }
    if cfg.demo.policy_checkpoint:
        eval_env = make_env(cfg.env.name, sparse=False, seed=int(cfg.env.seed))
        actor = load_policy(cfg.demo.policy_checkpoint, eval_env, cfg)
        eval_env.close()
        provenance["policy_checkpoint"] = str(cfg.demo.policy_checkpoint)
        summary = {"frames": None, "stopped": "checkpoint"}
    else:
        logger = None
        backend = cfg_get(cfg, "logger.backend")
        if backend:
            from torchrl.record.loggers import get_logger

            logger = get_logger(backend, logger_name=str(run_dir / "logs"), experiment_name="collect_demos")
        model, summary = train(cfg, run_dir, logger)
        actor = model[0]
        save_checkpoint(run_dir / "policy.pt", **_policy_payload(cfg, model, make_env(cfg.env.name, sparse=False),
                                                                 summary["frames"], summary["last_eval"]))
        provenance.update({"training_frames": summary["frames"], "stopped": summary["stopped"],
                           "last_eval": {k: v for k, v in (summary["last_eval"] or {}).items() if k != "dense_returns"},
                           "policy_checkpoint": str(run_dir / "policy.pt")})
    output_dir = Path(cfg.demo.output_dir)
    demos = rollout_demos(cfg, actor, output_dir, provenance)
    result = {
        "output_dir": str(output_dir),
        "task": cfg.env.name,
        "seed": int(cfg.env.seed),
        "training_frames": summary.get("frames"),
        "stopped": summary.get("stopped"),
        "wall_time_s": time.time() - t_start,
        "transitions": len(demos),
        "dense_returns": demos.returns,
        "sparse_returns": demos.meta["sparse_returns"],
        "mean_dense_return": float(np.mean(demos.returns)),
        "size_bytes": sum(f.stat().st_size for f in output_dir.rglob("*") if f.is_file()),
    }
    (run_dir / "summary.json").write_text(json.dumps(result, indent=2))
    print("[collect_demos] " + json.dumps(result), flush=True)
    return result


@hydra.main(version_base="1.3", config_path="config", config_name="collect_demos")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
