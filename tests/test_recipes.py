"""Smoke runs of the GILD recipes with tiny budgets, and their configuration errors."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gild_torchrl import training
from gild_torchrl.objectives import make_batch
import torch
from hydra import compose, initialize_config_dir
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torchrl.data import LazyTensorStorage, TensorDictReplayBuffer

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
TINY = [
    "env.name=PointNav",
    "collector.total_frames=400",
    "collector.init_random_frames=200",
    "collector.frames_per_batch=100",
    "eval.interval=200",
    "eval.episodes=2",
    "network.hidden_sizes=[16,16]",
    "replay_buffer.batch_size=32",
    "demos.batch_size=32",
    "demos.pointnav_episodes=3",
    "logger.progress_bar=false",
]


def compose_config(recipe: str, overrides: list[str]):
    with initialize_config_dir(config_dir=str(RECIPES / "config"), version_base="1.3"):
        return compose(config_name=recipe, overrides=overrides)


def run_recipe(script: str, overrides: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RL_WARNINGS": "False"}
    return subprocess.run(
        [sys.executable, str(RECIPES / script), *overrides], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def run_in_process(recipe: str, overrides: list[str], capsys: pytest.CaptureFixture[str]) -> subprocess.CompletedProcess:
    """A recipe's body (``training.run``) on its composed config in this process, read like ``run_recipe``'s
    result: exit code, stdout, stderr. It saves a subprocess's imports (about 9 s here); the command line
    itself is what ``run_recipe``'s tests cover."""
    cfg = compose_config(recipe, overrides)
    capsys.readouterr()
    try:
        training.run(cfg)
        returncode = 0
    except SystemExit as exit:
        returncode = exit.code
    out = capsys.readouterr()
    return subprocess.CompletedProcess([recipe, *overrides], returncode, out.out, out.err)


def read_eval_csv(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "eval.csv").open() as f:
        return list(csv.DictReader(f))


def tensorboard_tags(run_dir: Path) -> set[str]:
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    return set(events.Tags()["scalars"])


EXPECTED_TAGS = {
    "train/episode_sparse_return",
    "train/episode_dense_return",
    "gild/guiding",
    "gild/rewarded_transitions",
    "eval/dense_return",
    "eval/sparse_return",
    "throughput/frames_per_s",
    "throughput/updates_per_s",
    "time/collect",
    "time/update",
    "time/eval",
    "train/nonfinite_skips_actor",
    "train/nonfinite_skips_critic",
}
OBJECTIVE_TAGS = {
    "gild": {"train/loss_gild", "gild/gild_loss", "gild/meta_utility", "gild/demo_action_mse", "gild/meta_grad_norm",
             "gild/gild_output_std", "gild/gild_bc_cosine", "gild/gild_bc_norm_ratio", "gild/meta_step"},
    "il": {"gild/bc_loss", "gild/demo_action_mse"},
    "meta_critic": {"train/loss_meta_critic", "gild/aux_loss", "gild/meta_utility"},
    "rl": set(),
}


@pytest.mark.parametrize("algorithm", ["td3", "ddpg", "sac"])
@pytest.mark.parametrize("objective", ["gild", "il", "meta_critic", "rl"])
def test_every_recipe_and_objective_runs_and_logs(tmp_path, algorithm, objective):
    run_dir = tmp_path / "run"
    cfg = compose_config(f"{algorithm}_gild", [*TINY, f"loss.objective={objective}", "loss.warm_start=null", f"run_dir={run_dir}"])
    result = training.train(cfg)
    assert result["frames"] == 400 and result["updates"] == 200
    rows = read_eval_csv(run_dir)
    assert [int(r["frames"]) for r in rows] == [200, 400]
    assert all(np.isfinite(float(r["dense_return"])) and np.isfinite(float(r["sparse_return"])) for r in rows)
    critic = "train/loss_value" if algorithm == "ddpg" else "train/loss_qvalue"
    tags = tensorboard_tags(run_dir)
    missing = (EXPECTED_TAGS | OBJECTIVE_TAGS[objective] | {critic, "train/loss_actor"}) - tags
    assert not missing, f"missing TensorBoard tags: {missing}"


def test_gild_diagnostics_are_logged_at_their_own_updates(tmp_path):
    """A warm start shorter than one collection batch still draws a curve: the diagnostics of
    every ``diagnostics_interval``-th update, at the frame that update belongs to."""
    run_dir = tmp_path / "run"
    overrides = [*TINY, "loss.objective=gild", "loss.warm_start=30", "loss.diagnostics_interval=10", f"run_dir={run_dir}"]
    training.train(compose_config("td3_gild", overrides))
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()

    def steps(tag):
        return [e.step for e in events.Scalars(tag)]

    # TD3 trains the actor on updates 1, 3, 5, ...; the 30 guided ones end at update 59 (frame 259
    # of the batch 201-300); diagnostics on updates 1, 11, ..., 51.
    expected = [201, 211, 221, 231, 241, 251]
    for tag in ("gild/meta_grad_norm", "gild/gild_bc_cosine", "gild/gild_output_std", "gild/meta_step"):
        assert steps(tag) == expected, tag
    assert steps("train/loss_actor") == [300, 400]  # losses: once per batch
    assert [e.value for e in events.Scalars("gild/guided_updates")] == [0, 0, 30, 30]  # frames 100-400
    assert all(e.value == 1.0 for e in events.Scalars("gild/meta_step"))


@pytest.mark.parametrize("script", ["td3_gild.py", "ddpg_gild.py", "sac_gild.py"])
def test_recipe_scripts_run_from_the_command_line(tmp_path, script):
    run_dir = tmp_path / "cli"
    proc = run_recipe(script, [*TINY, f"run_dir={run_dir}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "done: 400 frames, 200 updates" in proc.stdout
    assert len(read_eval_csv(run_dir)) == 2
    assert (run_dir / ".hydra" / "config.yaml").is_file()


def test_mujoco_task_with_a_numpy_demonstration_file(tmp_path):
    """Sparse Hopper with demonstrations in the paper's on-disk format: float64 (N, obs + act) [s | a]."""
    rng = np.random.default_rng(0)
    demo_file = tmp_path / "hopper_demos.npy"
    np.save(demo_file, np.concatenate([rng.normal(size=(300, 11)), rng.uniform(-1, 1, size=(300, 3))], axis=1))
    run_dir = tmp_path / "hopper"
    overrides = [o for o in TINY if not o.startswith(("env.name", "demos.pointnav"))]
    proc = run_recipe("td3_gild.py", [*overrides, "env.name=Hopper-v5", f"demos.path={demo_file}", "loss.warm_start=60", f"run_dir={run_dir}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = read_eval_csv(run_dir)
    assert len(rows) == 2 and all(float(r["length"]) > 0 for r in rows)
    assert {"eval/dense_return", "eval/sparse_return", "train/loss_gild"} <= tensorboard_tags(run_dir)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["loss.objective=bc"], "loss.objective='bc'; expected one of"),
        (["algorithm=ppo"], "algorithm='ppo'; expected one of"),
        (["env.name=NoSuchTask-v0"], "env.name='NoSuchTask-v0'"),
        (["demos.path=/nonexistent/demos.npz"], "/nonexistent/demos.npz"),
        (["collector.total_frames=-5"], "collector.total_frames=-5; expected a positive integer"),
        (["loss.warm_start=soon"], "loss.warm_start='soon'"),
        (["loss.validation_batch=maybe"], "loss.validation_batch='maybe'; expected one of"),
        (["loss.objective=meta_critic", "loss.validation_batch=demo"], "expected loss.objective=gild, got 'meta_critic'"),
    ],
)
def test_bad_configuration_fails_with_one_sentence_before_training(tmp_path, capsys, overrides, message):
    run_dir = tmp_path / "bad"
    proc = run_in_process("td3_gild", [*TINY, *overrides, f"run_dir={run_dir}"], capsys)
    assert proc.returncode == 2, proc.stderr[-2000:]
    last_line = proc.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: ") and message in last_line, last_line
    # the one sentence and nothing else; an exception other than the recipe's exit fails run_in_process itself
    assert proc.stderr.strip() == last_line, proc.stderr
    assert not (run_dir / "eval.csv").exists()


def test_demonstrations_of_another_task_are_rejected(tmp_path):
    demo_file = tmp_path / "pointnav_sized.npy"
    np.save(demo_file, np.zeros((50, 4 + 2)))  # PointNav-shaped rows for Hopper
    proc = run_recipe("td3_gild.py", [*TINY, "env.name=Hopper-v5", f"demos.path={demo_file}", f"run_dir={tmp_path / 'x'}"], cwd=tmp_path)
    assert proc.returncode == 2
    last_line = proc.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: ") and "pointnav_sized.npy" in last_line, last_line
    assert "Traceback" not in proc.stderr  # from the command line too: one sentence, no traceback


def test_a_non_finite_gradient_skips_only_its_group_and_is_counted():
    """A NaN reward poisons the critic's loss: the critic is not stepped, the actor and GILD still are."""
    from collections import Counter

    from torchrl.objectives import SoftUpdate

    from gild_torchrl.envs import make_env

    cfg = compose_config("td3_gild", [*TINY, "td3.policy_delay=1"])
    env = make_env("PointNav")
    demos = training.make_demonstrations(cfg, env)
    loss = training.make_loss_module(cfg, env, demos)
    optimizers = training.make_optimizers(cfg, loss)
    rollout = env.rollout(40, break_when_any_done=False)
    replay = rollout.reshape(-1)
    replay["next", "reward"][3] = float("nan")
    batch = make_batch(replay, demos.sample(32).select("observation", "action"))
    groups = {name: [p.detach().clone() for g in opt.param_groups for p in g["params"]] for name, opt in optimizers.items()}
    skipped = Counter()
    training.update(loss, optimizers, SoftUpdate(loss.base_loss, tau=0.005), batch, skipped)
    assert skipped == Counter({"critic": 1})
    for name, before in groups.items():
        after = [p for g in optimizers[name].param_groups for p in g["params"]]
        assert all(torch.isfinite(p).all() for p in after), name
        changed = any(not torch.equal(a, b) for a, b in zip(before, after))
        assert changed == (name != "critic"), name


@pytest.mark.parametrize("source", ["demo", "true", "false"])
def test_the_meta_objective_states_come_from_the_configured_batch(source):
    from gild_torchrl.envs import make_env

    cfg = compose_config("td3_gild", [*TINY, f"loss.validation_batch={source}"])
    env = make_env("PointNav")
    demos = training.make_demonstrations(cfg, env)
    loss = training.make_loss_module(cfg, env, demos)
    replay_buffer = TensorDictReplayBuffer(storage=LazyTensorStorage(400), batch_size=cfg.replay_buffer.batch_size)
    replay_buffer.extend(env.rollout(50, break_when_any_done=False).reshape(-1))
    batch = training.sample_batch(loss, replay_buffer, demos, cfg)
    if source == "false":
        assert "validation" not in batch.keys()  # the loss then uses the replay batch's own states
        return
    states = batch["validation", "observation"]
    assert states.shape == (32, 4)  # PointNav: position, offset to the goal
    if source == "demo":
        assert torch.equal(states, batch["demo", "observation"])
    else:  # a second replay batch: stored states, not the demo batch's
        stored = replay_buffer[:]["observation"]
        assert all((stored == s).all(-1).any() for s in states)
        assert not torch.equal(states, batch["demo", "observation"])


def test_same_seed_same_config_gives_the_same_run(tmp_path):
    def run(name):
        run_dir = tmp_path / name
        training.train(compose_config("td3_gild", [*TINY, "seed=4", f"run_dir={run_dir}"]))
        events = EventAccumulator(str(run_dir / "tensorboard"))
        events.Reload()
        losses = {tag: [e.value for e in events.Scalars(tag)] for tag in ("train/loss_actor", "train/loss_qvalue", "train/loss_gild")}
        rows = [{k: v for k, v in row.items() if k != "wall_time"} for row in read_eval_csv(run_dir)]
        return rows, losses

    first, second = run("a"), run("b")
    assert first == second
    # losses logged after each of the two learning batches; GILD's 1% warm start is one actor update here
    assert {tag: len(values) for tag, values in first[1].items()} == {"train/loss_actor": 2, "train/loss_qvalue": 2, "train/loss_gild": 1}


def test_unknown_config_key_is_refused_by_hydra(tmp_path):
    proc = run_recipe("td3_gild.py", [*TINY, "loss.objectiv=il", f"run_dir={tmp_path / 'x'}"], cwd=tmp_path)
    assert proc.returncode != 0
    assert "loss.objectiv" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x" / "eval.csv").exists()
