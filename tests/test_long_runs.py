"""The paper's warm-start length whatever the budget, and finished runs extended to a larger budget."""

from __future__ import annotations

import csv
import json
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
from gild_torchrl import training
import torch
from hydra import compose, initialize_config_dir
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gild_torchrl.training.provenance import read_launches
from test_study import IN_PROCESS, run_study

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "recipes" / "config"


@pytest.mark.parametrize("frames", [60_000, 300_000])
@pytest.mark.parametrize("setting", ["gild", "gild_bc_first_reward", "il_warm_start"])
@pytest.mark.parametrize("algorithm, actor_updates", [("td3", 5_000), ("sac", 10_000), ("ddpg", 10_000)])
def test_named_settings_guide_for_the_papers_1e4_gradient_updates_at_any_budget(frames, setting, algorithm, actor_updates):
    from gild_torchrl.envs import make_env

    with initialize_config_dir(config_dir=str(CONFIG), version_base="1.3"):
        cfg = compose("study", [f"setting={setting}", f"algorithm={algorithm}", f"collector.total_frames={frames}",
                                "env.name=PointNav", "network.hidden_sizes=[8]", "loss.bc_fit_steps=1", "run_dir=unused"])
    training.check_config(cfg)
    env = make_env("PointNav")
    demos = training.make_demonstrations(cfg, env)
    loss = training.make_loss_module(cfg, env, demos)
    env.close()
    assert loss.warm_start_updates == actor_updates
    # a fraction of the run stays available, and then depends on the budget
    with initialize_config_dir(config_dir=str(CONFIG), version_base="1.3"):
        fractional = compose("study", [f"setting={setting}", f"algorithm={algorithm}", f"collector.total_frames={frames}",
                                       "loss.warm_start=0.01", "run_dir=unused"])
    assert training.warm_start_setting(fractional) == 0.01
    expected = round(0.01 * (frames - 10_000) / (2 if algorithm == "td3" else 1))
    from gild_torchrl.objectives import resolve_warm_start

    assert resolve_warm_start(0.01, training.total_updates(fractional), 2 if algorithm == "td3" else 1) == expected


def test_the_earlier_presets_keep_the_warm_start_they_were_made_with():
    from omegaconf import OmegaConf

    from gild_torchrl.training.grid import find_cell

    for preset, setting in (("before_first_reward", "gild"), ("quick", "gild")):
        with initialize_config_dir(config_dir=str(CONFIG), version_base="1.3"):
            cfg = compose("study", [f"study={preset}"])
        cells = OmegaConf.to_container(cfg.study.cells, resolve=True)
        cell = find_cell({"env.name": "Hopper-v5", "algorithm": "td3", "setting": setting, "seed": 0}, cells)
        assert cell["set"]["loss.warm_start"] == 0.01, preset
        rl = find_cell({"env.name": "Hopper-v5", "algorithm": "td3", "setting": "rl", "seed": 0}, cells)
        assert "loss.warm_start" not in rl["set"], preset


def _eval_frames(run_dir: Path) -> list[int]:
    with (run_dir / "eval.csv").open() as f:
        return [int(row["frames"]) for row in csv.DictReader(f)]


def test_a_finished_study_run_is_extended_to_a_larger_budget_and_its_curves_continue(tmp_path):
    run_study(tmp_path, IN_PROCESS, "setting=gild", "checkpoint.keep_final=true")
    run_dir = tmp_path / "study" / "PointNav" / "td3" / "gild" / "seed0"
    assert _eval_frames(run_dir) == [500, 1000]
    before = torch.load(run_dir / "checkpoint" / "state.pt", weights_only=False)

    second = run_study(tmp_path, IN_PROCESS, "setting=gild", "checkpoint.keep_final=true", "collector.total_frames=2000")
    assert "gild/seed0: extending to 2000 frames" in second.stdout, second.stdout
    assert _eval_frames(run_dir) == [500, 1000, 1500, 2000]  # the old rows kept, the new ones after them
    result = json.loads((run_dir / "result.json").read_text())
    assert (result["frames"], result["updates"]) == (2000, 1500)  # 500 random frames, then one update per frame
    assert result["total_wall_time"] > result["wall_time"]  # both launches counted
    assert json.loads((run_dir / "run.json").read_text())["total_frames"] == 2000
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("eval/dense_return")] == [500, 1000, 1500, 2000]  # one curve, no duplicates
    state = torch.load(run_dir / "checkpoint" / "state.pt", weights_only=False)
    (counters,) = (v for k, v in state["loss"].items() if k.endswith("_extra_state"))
    (counters_before,) = (v for k, v in before["loss"].items() if k.endswith("_extra_state"))
    assert counters["num_updates"] == 1500 and counters_before["num_updates"] == 500
    assert counters["warm_start_updates"] == counters_before["warm_start_updates"]  # the warm start carried on unchanged

    third = run_study(tmp_path, IN_PROCESS, "setting=gild", "checkpoint.keep_final=true", "collector.total_frames=2000")
    assert "gild/seed0: finished earlier, skipped" in third.stdout
    # each launch that trained is recorded with where it started and what it ran on; the skip is not
    launches = read_launches(run_dir)
    assert [(x["from_frames"], x["total_frames"]) for x in launches] == [(0, 1000), (1000, 2000)]
    for launch in launches:
        assert (launch["torch"], launch["torchrl"]) == (metadata.version("torch"), metadata.version("torchrl"))
        assert launch["torch_threads"] == 1 and launch["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert launches[0]["commit"] == (head.stdout.strip() if head.returncode == 0 else None)


def _finished_run(root: Path, frames: int) -> Path:
    run_dir = root / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"total_frames": frames, "eval_interval": 500}))
    (run_dir / "result.json").write_text("{}")
    return run_dir


@pytest.mark.parametrize("has_checkpoint, budget, extends, says", [
    (True, 2000, True, None),
    (False, 2000, False, "its final checkpoint was not kept (checkpoint.keep_final=true keeps it)"),
    (True, 1000, False, "finished earlier, skipped"),
    (True, 500, False, "it ran 1000 frames (evaluated every 500), the study now asks for 500"),
])
def test_a_finished_run_is_extended_only_to_a_larger_budget_from_a_kept_checkpoint(tmp_path, capsys, has_checkpoint, budget, extends, says):
    from omegaconf import OmegaConf

    from gild_torchrl.training import study
    cfg = OmegaConf.create({"collector": {"total_frames": budget}, "eval": {"interval": 500}})
    assert study.extends_finished_run(_finished_run(tmp_path, 1000), cfg, has_checkpoint, "a run") == extends
    if says:
        assert says in capsys.readouterr().out


def test_a_recipe_run_is_extended_from_the_command_line(tmp_path):
    from test_recipes import TINY, run_recipe

    run_dir = tmp_path / "run"
    first = run_recipe("td3_gild.py", [*TINY, "loss.objective=rl", f"run_dir={run_dir}"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    longer = run_recipe("td3_gild.py", [f"resume={run_dir}", "collector.total_frames=800"], cwd=tmp_path)
    assert longer.returncode == 0, longer.stderr[-2000:]
    assert _eval_frames(run_dir) == [200, 400, 600, 800]
    assert json.loads((run_dir / "result.json").read_text())["frames"] == 800
    # the run's config is its own, with the launch that changed it recorded
    assert "total_frames: 800" in (run_dir / ".hydra" / "config.yaml").read_text()
    launches = read_launches(run_dir)
    assert launches[1]["config_changes"] == {"collector.total_frames": [400, 800]}
    assert launches[1]["overrides"] == [f"resume={run_dir}", "collector.total_frames=800"]


def test_a_checkpoint_from_before_a_setting_existed_resumes_with_its_default(tmp_path):
    """Runs of a long study span code changes: a config key added later must not stop their resume."""
    from test_recipes import TINY, run_recipe

    run_dir = tmp_path / "run"
    first = run_recipe("td3_gild.py", [*TINY, "loss.objective=il", f"run_dir={run_dir}"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    path = run_dir / "checkpoint" / "state.pt"
    state = torch.load(path, weights_only=False)
    for key in ("mix_with", "episodes", "action_noise", "negate_actions", "transform_seed"):
        del state["config"]["demos"][key]  # as a checkpoint written before the demonstration transforms
    del state["config"]["overwrite"]
    torch.save(state, path)
    (run_dir / "checkpoint" / "manifest.json").unlink()  # and before checkpoints recorded their checksums
    longer = run_recipe("td3_gild.py", [f"resume={run_dir}", "collector.total_frames=600"], cwd=tmp_path)
    assert longer.returncode == 0, longer.stderr[-2000:]
    assert _eval_frames(run_dir) == [200, 400, 600]
