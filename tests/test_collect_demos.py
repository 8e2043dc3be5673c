"""recipes/collect_demos.py (its body: gild_torchrl.training.collect_demos) end to end with a tiny budget
(subprocesses, CPU): the recipes' own run (``rl`` on the dense task), its checkpoints and config names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from gild_torchrl.data import Demonstrations

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "collect_demos.py"
TINY = [
    "env.name=Hopper-v5",
    "collector.frames_per_batch=200",
    "collector.init_random_frames=200",
    "replay_buffer.batch_size=32",
    "network.hidden_sizes=[32,32]",
    "eval.interval=400",
    "eval.episodes=1",
    "checkpoint.interval=400",
    "demo.num_episodes=2",
    "logger.backend=csv",
    "logger.progress_bar=false",
]


def _run(args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, str(RECIPE), *TINY, *args], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


def test_train_rollout_resume_and_checkpoint_mode(tmp_path):
    run_dir = tmp_path / "run"
    log = _run(["collector.total_frames=600", f"run_dir={run_dir}", f"demo.output_dir={tmp_path / 'demos'}"], tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["training_frames"] == 600 and summary["stopped"] == "budget"
    demos = Demonstrations.load(tmp_path / "demos").validate_for_task("Hopper-v5")
    assert demos.num_episodes == 2 and len(demos.returns) == 2 and demos.task == "Hopper-v5"
    assert demos.meta["provenance"]["training_frames"] == 600
    assert summary["dense_returns"] == pytest.approx(demos.returns)
    assert (run_dir / "policy.pt").is_file() and (run_dir / "checkpoint" / "COMPLETE").is_file()
    assert "eval dense=" in log
    # the GILD recipes' run directory: the same files, the rl objective on the dense task
    info = json.loads((run_dir / "run.json").read_text())
    assert info["objective"] == "rl" and info["algorithm"] == "td3" and info["total_frames"] == 600
    assert (run_dir / "eval.csv").read_text().splitlines()[0].startswith("frames,updates,wall_time,dense_return")

    # a larger budget resumes from the checkpoint instead of starting over
    log = _run(["collector.total_frames=1000", f"run_dir={run_dir}", f"demo.output_dir={tmp_path / 'demos2'}"], tmp_path)
    assert "resumed from" in log and "at 600 frames" in log
    assert json.loads((run_dir / "summary.json").read_text())["training_frames"] == 1000
    assert [int(row.split(",")[0]) for row in (run_dir / "eval.csv").read_text().splitlines()[1:]] == [400, 600, 800, 1000]

    # roll out an existing policy checkpoint, with action noise, without training
    out_dir = tmp_path / "from_ckpt"
    _run([f"demo.policy_checkpoint={run_dir / 'policy.pt'}", "demo.noise_std=0.1", f"run_dir={tmp_path / 'run2'}",
          f"demo.output_dir={out_dir}", "demo.compress=false", "demo.min_return=-1000000"], tmp_path)
    demos = Demonstrations.load(out_dir).validate_for_task("Hopper-v5")
    assert demos.num_episodes == 2 and (out_dir / "storage").is_dir()
    assert "policy.pt" in demos.meta["provenance"]["policy_checkpoint"]
    assert demos.meta["rejected_returns"] == [] and demos.meta["min_return"] == -1000000
    assert not (tmp_path / "run2" / "checkpoint").exists()


def test_stop_rule():
    from omegaconf import OmegaConf

    from gild_torchrl.training import collect_demos as mod
    cfg = OmegaConf.create({"stop": {"target_return": 1000, "max_return": 2000, "target_sparse_return": 300}})
    assert mod.reached_target(cfg, {"dense_return": 1500, "sparse_return": 400})
    assert not mod.reached_target(cfg, {"dense_return": 1500, "sparse_return": 0})  # standing still
    assert not mod.reached_target(cfg, {"dense_return": 2500, "sparse_return": 2000})
    assert not mod.reached_target(cfg, {"dense_return": 900, "sparse_return": 400})
    cfg = OmegaConf.create({"stop": {"target_return": None, "max_return": None, "target_sparse_return": None}})
    assert not mod.reached_target(cfg, {"dense_return": 1e9, "sparse_return": 1e9})


def test_collect_demos_uses_the_recipes_config_names():
    """One training stack: the behaviour policy's config is the GILD recipes' with the rl objective on the dense task."""
    with initialize_config_dir(config_dir=str(ROOT / "recipes" / "config"), version_base="1.3"):
        demos_cfg = compose("collect_demos", ["run_dir=unused"])
        recipe_cfg = compose("td3_gild", ["run_dir=unused"])
    assert demos_cfg.loss.objective == "rl" and demos_cfg.env.sparse is False and demos_cfg.algorithm == "td3"
    shared = set(recipe_cfg.keys()) - {"hydra"}
    assert shared <= set(demos_cfg.keys()) and set(demos_cfg.keys()) - shared == {"stop", "demo"}
    assert demos_cfg.td3 == recipe_cfg.td3 and demos_cfg.optim == recipe_cfg.optim


def test_evaluate_reads_dense_and_sparse_returns():
    import torch
    from omegaconf import OmegaConf

    from gild_torchrl.envs import DetourDemonstrator
    from gild_torchrl.modules import make_deterministic_actor
    from gild_torchrl.training import evaluate, make_environment

    train_env, eval_env = make_environment(OmegaConf.create({"env": {"name": "PointNav", "seed": 0, "sparse": True, "threshold": None}}))
    out = evaluate(DetourDemonstrator(noise=0.0), eval_env, episodes=3, max_steps=100)
    assert 0.6 < out["sparse_return"] < 0.75 and 0.5 < out["dense_return"] < 0.75 and 25 < out["length"] < 40
    assert out["return"] == pytest.approx(out["dense_return"])  # the evaluation env is dense
    actor = make_deterministic_actor(4, train_env.action_spec_unbatched, (32, 32))
    td = actor(train_env.reset())
    assert td["action"].shape == (2,) and bool((td["action"].abs() <= 1).all())
    assert len(evaluate(actor, eval_env, episodes=2, max_steps=100)["dense_returns"]) == 2
    assert torch.get_num_threads() >= 1
