"""Studies through Hydra multirun: the joblib launcher end to end, skipping finished runs, Slurm's config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict

from gild_torchrl.analysis import analyse, load_study
from gild_torchrl.training.grid import RUN_KEYS, find_cell, launch_runs, run_id

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "recipes" / "config"
TINY_PRESET = """# @package _global_
study:
  name: tiny
  cells:
    - match: {env.name: PointNav, setting: [rl, gild]}
      set:
        collector.total_frames: 1000
        collector.init_random_frames: 500
        collector.frames_per_batch: 250
        eval.interval: 500
        eval.episodes: 3
        network.hidden_sizes: [32, 32]
        replay_buffer.batch_size: 64
        demos.batch_size: 64
hydra:
  sweeper:
    params:
      env.name: PointNav
      algorithm: td3
      setting: rl,il,gild
      seed: "0"
"""


# Hydra's basic launcher runs a study's jobs one after the other in the launching process: what the
# tests below check does not depend on the launcher, and it saves a joblib worker's imports per launch.
IN_PROCESS = "hydra/launcher=basic"


def run_study(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    config_dir = tmp_path / "config"
    (config_dir / "study").mkdir(parents=True, exist_ok=True)
    (config_dir / "study" / "tiny.yaml").write_text(TINY_PRESET)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "1"}
    cmd = [sys.executable, str(ROOT / "recipes" / "study.py"), "--config-dir", str(config_dir), "study=tiny",
           f"study.dir={tmp_path / 'study'}", *overrides]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=400)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_a_study_runs_through_joblib_skips_finished_runs_and_extends(tmp_path):
    study_dir = tmp_path / "study"
    foreign = study_dir / "PointNav" / "td3" / "meta_critic" / "seed0"
    foreign.mkdir(parents=True)
    (foreign / "eval.csv").write_text("frames\n")  # a run outside the cells, e.g. from an older preset
    first = run_study(tmp_path, "setting=rl,il,gild,meta_critic")
    # 4 combinations; rl and gild are in the preset's cell; il is not (its directory is removed);
    # meta_critic is not either, but its directory holds a run's files and is kept
    assert sorted(p.relative_to(study_dir).as_posix() for p in study_dir.glob("*/*/*/seed*")) == [
        "PointNav/td3/gild/seed0", "PointNav/td3/meta_critic/seed0", "PointNav/td3/rl/seed0"]
    assert "holds a run's files; kept, not run" in first.stdout
    assert (foreign / "eval.csv").read_text() == "frames\n"
    assert "Joblib" in first.stdout + first.stderr
    launch = json.loads((study_dir / "launches.jsonl").read_text())
    assert launch["runs"] == ["PointNav/td3/gild/seed0", "PointNav/td3/rl/seed0"]
    for setting in ("rl", "gild"):
        run_dir = study_dir / "PointNav" / "td3" / setting / "seed0"
        info = json.loads((run_dir / "run.json").read_text())
        assert (info["setting"], info["total_frames"]) == (setting, 1000)  # the cell's budget applied
        assert (run_dir / "result.json").is_file() and (run_dir / ".hydra" / "config.yaml").is_file()
        assert not (run_dir / "checkpoint").exists()  # studies keep results, not replay buffers
        assert len((run_dir / "eval.csv").read_text().splitlines()) == 1 + 2
        assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    result = analyse(study_dir, reps=100)
    assert [r["setting"] for r in result["rows"]] == ["rl", "gild"] and result["warnings"] == []
    for name in ("learning_curves.png", "learning_curves.svg", "divergence.png", "results.md", "results.csv"):
        assert (study_dir / "analysis" / name).stat().st_size > 0

    mtime = (study_dir / "PointNav" / "td3" / "rl" / "seed0" / "eval.csv").stat().st_mtime_ns
    again = run_study(tmp_path, "seed=0,1")  # more seeds: seed 0 is skipped, seed 1 runs
    assert again.stdout.count("finished earlier, skipped") == 2, again.stdout
    assert (study_dir / "PointNav" / "td3" / "rl" / "seed0" / "eval.csv").stat().st_mtime_ns == mtime
    assert (study_dir / "PointNav" / "td3" / "gild" / "seed1" / "result.json").is_file()
    study = load_study(study_dir)
    assert study.missing == [] and study.unfinished == []
    assert sorted(study.expected) == sorted(f"PointNav/td3/{s}/seed{i}" for s in ("rl", "gild") for i in (0, 1))
    assert len((study_dir / "launches.jsonl").read_text().splitlines()) == 2


def test_the_command_line_wins_over_the_cell_budget(tmp_path):
    run_study(tmp_path, IN_PROCESS, "setting=rl", "collector.total_frames=750")
    info = json.loads((tmp_path / "study" / "PointNav" / "td3" / "rl" / "seed0" / "run.json").read_text())
    assert info["total_frames"] == 750


def test_an_interrupted_study_run_resumes_from_its_checkpoint(tmp_path):
    run_study(tmp_path, IN_PROCESS, "setting=rl", "checkpoint.interval=500", "checkpoint.keep_final=true")
    run_dir = tmp_path / "study" / "PointNav" / "td3" / "rl" / "seed0"
    (run_dir / "result.json").unlink()  # as if it had been killed after its last checkpoint
    again = run_study(tmp_path, IN_PROCESS, "setting=rl")
    assert "resuming" in again.stdout and "already finished at 1000 frames" in again.stdout


def test_slurm_launcher_config_resolves_and_the_paper_grid_has_240_runs():
    with initialize_config_dir(config_dir=str(CONFIG), version_base="1.3"):
        cfg = compose("study", ["study=paper", "hydra/launcher=slurm", "hydra.launcher.partition=cpu"],
                      return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.partition, launcher.cpus_per_task, launcher.max_num_timeout) == ("cpu", 1, 3)
    runs = launch_runs(cfg)
    assert len(runs) == 4 * 3 * 4 * 5
    assert "Ant-v5/sac/meta_critic/seed4" in runs


def test_quick_preset_covers_what_it_promises():
    with initialize_config_dir(config_dir=str(CONFIG), version_base="1.3"):
        cfg = compose("study", ["study=quick"], return_hydra_config=True)
    runs = launch_runs(cfg)
    pointnav = [r for r in runs if r.startswith("PointNav/")]
    hopper = [r for r in runs if r.startswith("Hopper-v5/")]
    assert len(pointnav) == 5 * 5 and len(hopper) == 3 * 2
    assert {r.split("/")[2] for r in hopper} == {"rl", "il", "gild"}
    assert {r for r in pointnav if "/trpo/" in r} == {f"PointNav/trpo/logo/seed{seed}" for seed in range(5)}


def test_long_hopper_preset_compares_the_five_off_policy_settings_and_logo():
    with initialize_config_dir(config_dir=str(CONFIG), version_base="1.3"):
        cfg = compose("study", ["study=long_hopper"], return_hydra_config=True)
    runs = launch_runs(cfg)
    settings = {"td3/rl", "td3/il", "td3/il_warm_start", "td3/gild", "td3/gild_bc_first_reward", "trpo/logo"}
    assert set(runs) == {f"Hopper-v5/{s}/seed{seed}" for s in settings for seed in range(3)}


SETTINGS = sorted(p.stem for p in (CONFIG / "setting").glob("*.yaml"))
#: What each setting is, beside its objective (the settings a preset sweeps; the rest are the base ones).
SETTING_VALUES = {
    "il_warm_start": ("il", {"loss.warm_start": "paper"}),
    "gild_bc_first_reward": ("gild", {"loss.gild_init": "bc", "loss.meta_start": "first_reward"}),
    "gild_q_value": ("gild", {"loss.meta_objective": "q_value", "loss.warm_start": "paper"}),
    "gild_ws5k": ("gild", {"loss.warm_start": 2500}),
    "gild_ws20k": ("gild", {"loss.warm_start": 10_000}),
    "gild_ws50k": ("gild", {"loss.warm_start": 25_000}),
    "il_noisy_demos": ("il", {"demos.action_noise": 0.3, "loss.warm_start": None}),
    "il_negated_demos": ("il", {"demos.negate_actions": True}),
    "il_weak_demos": ("il", {"demos.bundled_kind": "weak", "loss.warm_start": None}),
    "gild_bc_first_reward_weak_demos": ("gild", {"demos.bundled_kind": "weak", "loss.gild_init": "bc",
                                                 "loss.meta_start": "first_reward"}),
    "gild_bc_first_reward_noisy_demos": ("gild", {"demos.action_noise": 0.3, "loss.gild_init": "bc"}),
    "gild_bc_first_reward_negated_demos": ("gild", {"demos.negate_actions": True, "loss.meta_start": "first_reward"}),
    "logo": ("logo", {"collector.frames_per_batch": 5000, "collector.init_random_frames": 0}),
}
#: Settings of an algorithm of their own (the sweep names it beside the setting).
SETTING_ALGORITHM = {"logo": "trpo"}


@pytest.mark.parametrize("setting", SETTINGS)
def test_every_setting_composes_to_a_valid_recipe_config(setting):
    from gild_torchrl import training
    with initialize_config_dir(config_dir=str(CONFIG), version_base="1.3"):
        cfg = compose("study", [f"setting={setting}", f"algorithm={SETTING_ALGORITHM.get(setting, 'td3')}", "run_dir=unused"])
    training.check_config(cfg)
    objective, values = SETTING_VALUES.get(setting, (setting, {}))
    assert cfg.loss.objective == objective
    assert {key: OmegaConf.select(cfg, key) for key in values} == values


def test_submitit_runs_a_study_job_in_a_fresh_process(tmp_path):
    """What a Slurm job does, through submitit's local executor: unpickle the job and run it."""
    run_study(tmp_path, "setting=rl", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5")
    run_dir = tmp_path / "study" / "PointNav" / "td3" / "rl" / "seed0"
    assert (run_dir / "result.json").is_file()
    assert list((tmp_path / "study" / ".submitit").rglob("*_log.out"))


@pytest.mark.parametrize("preset, task, algorithm, settings", [
    ("meta_objective", "HalfCheetah-v5", "td3", {"gild", "gild_q_value"}),
    ("warm_start_timing", "Hopper-v5", "td3", {"gild_ws5k", "gild", "gild_ws20k", "gild_ws50k"}),
    ("behaviour_divergence", "Walker2d-v5", "sac", {"rl", "il", "gild"}),
    ("demo_quality", "Hopper-v5", "td3", {"il_noisy_demos", "il_negated_demos", "il_weak_demos",
                                          "gild_bc_first_reward_noisy_demos", "gild_bc_first_reward_negated_demos",
                                          "gild_bc_first_reward_weak_demos"}),
])
def test_the_paper_experiment_presets_cover_what_they_promise(preset, task, algorithm, settings):
    from gild_torchrl import training
    with initialize_config_dir(config_dir=str(CONFIG), version_base="1.3"):
        cfg = compose("study", [f"study={preset}"], return_hydra_config=True)
    runs = launch_runs(cfg)
    assert set(runs) == {f"{task}/{algorithm}/{s}/seed{seed}" for s in settings for seed in (0, 1)}
    (cell,) = OmegaConf.to_container(cfg.study.cells)
    assert cell["set"]["collector.total_frames"] == 100_000 and cell["set"]["eval.interval"] == 5000
    assert cell["set"]["eval.episodes"] == 10 and cell["set"].get("eval.behaviour_kl", False) == (preset == "behaviour_divergence")
    for setting in settings:  # each run's config passes the checks (the KL needs SAC's stochastic actor)
        with initialize_config_dir(config_dir=str(CONFIG), version_base="1.3"):
            run_cfg = compose("study", [f"study={preset}", f"setting={setting}", f"env.name={task}",
                                        f"algorithm={algorithm}", "run_dir=unused"])
        OmegaConf.update(run_cfg, "eval.behaviour_kl", cell["set"].get("eval.behaviour_kl", False))
        training.check_config(run_cfg)


def test_demo_quality_reads_the_long_studys_bundled_set_runs_under_the_same_protocol():
    """demo_quality does not rerun rl, il and gild_bc_first_reward on the bundled set: it reads
    long_hopper's seeds 0 and 1 at 100k frames, which is only right if every other option agrees."""
    with initialize_config_dir(config_dir=str(CONFIG), version_base="1.3"):
        quality = compose("study", ["study=demo_quality"], return_hydra_config=True)
        long = compose("study", ["study=long_hopper"], return_hydra_config=True)
    (quality_cell,) = OmegaConf.to_container(quality.study.cells)
    long_cell = next(c for c in OmegaConf.to_container(long.study.cells) if c["match"]["algorithm"] == "td3")
    assert {"rl", "il", "gild_bc_first_reward"} <= set(long_cell["match"]["setting"])
    differing = {k for k in {**quality_cell["set"], **long_cell["set"]} if quality_cell["set"].get(k) != long_cell["set"].get(k)}
    assert differing == {"collector.total_frames"}
    assert quality_cell["set"]["collector.total_frames"] <= long_cell["set"]["collector.total_frames"]
    quality_runs, long_runs = launch_runs(quality), launch_runs(long)
    assert {r.split("/")[-1] for r in quality_runs} <= {r.split("/")[-1] for r in long_runs}  # its seeds are run there

    def run_config(preset: str, setting: str) -> dict:  # a run's whole config, as study_job makes it
        with initialize_config_dir(config_dir=str(CONFIG), version_base="1.3"):
            cfg = compose("study", [f"study={preset}", f"setting={setting}", "env.name=Hopper-v5", "algorithm=td3",
                                    "seed=1", "run_dir=unused"])
        values = {"env.name": "Hopper-v5", "algorithm": "td3", "setting": setting, "seed": 1}
        assert set(values) == set(RUN_KEYS)
        for key, value in find_cell(values, OmegaConf.to_container(cfg.study.cells))["set"].items():
            OmegaConf.update(cfg, key, value, merge=False)
        with open_dict(cfg):
            for key in ("study", "setting"):  # the preset's name, and the sweep's choice (read from Hydra)
                del cfg[key]
        run = OmegaConf.to_container(cfg, resolve=True)
        run["collector"].pop("total_frames")
        run["checkpoint"].pop("keep_final")  # what happens after the last frame
        return run

    for setting in ("rl", "il", "gild_bc_first_reward"):
        assert run_config("demo_quality", setting) == run_config("long_hopper", setting), setting


def test_the_grid_preset_runs_every_cell_of_seed_0_before_seed_1_with_the_same_budget():
    """grid: 4 sparse tasks x DDPG/TD3/SAC x 5 settings, LOGO once per task, seeds 0 then 1 (128 runs)."""
    from gild_torchrl import training
    from gild_torchrl.data import bundled
    from gild_torchrl.training.config import warm_start_setting

    with initialize_config_dir(config_dir=str(CONFIG), version_base="1.3"):
        cfg = compose("study", ["study=grid"], return_hydra_config=True)
    tasks = ("Hopper-v5", "Walker2d-v5", "HalfCheetah-v5", "Ant-v5")
    settings = ("rl", "il", "il_warm_start", "meta_critic", "gild")
    expected = [f"{task}/{algorithm}/{setting}/seed{seed}" for seed in (0, 1) for task in tasks
                for algorithm, algorithm_settings in (("ddpg", settings), ("td3", settings), ("sac", settings), ("trpo", ("logo",)))
                for setting in algorithm_settings]
    assert launch_runs(cfg, ordered=True) == expected and len(expected) == 128
    # the order Hydra's own sweeper gives the jobs (the launcher starts them in that order)
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = OmegaConf.to_container(cfg.hydra.sweeper.params)
    (jobs,) = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()]), None)
    runs = [dict(o.split("=", 1) for o in job) for job in jobs]
    cells = OmegaConf.to_container(cfg.study.cells)
    assert [run_id(r) for r in runs if find_cell(r, cells) is not None] == expected
    assert OmegaConf.select(cfg, "checkpoint.keep_final") is True  # a later launch extends finished runs to 300k
    for task in tasks:
        bundled(task)  # each task's demonstrations are bundled
    for algorithm, setting in {tuple(run.split("/")[1:3]) for run in expected}:
        values = {"env.name": "Ant-v5", "algorithm": algorithm, "setting": setting, "seed": 1}
        with initialize_config_dir(config_dir=str(CONFIG), version_base="1.3"):
            run_cfg = compose("study", ["study=grid", f"setting={setting}", "env.name=Ant-v5", f"algorithm={algorithm}",
                                        "seed=1", "run_dir=unused"])
        for key, value in find_cell(values, cells)["set"].items():
            OmegaConf.update(run_cfg, key, value, merge=False)
        training.check_config(run_cfg)
        budget = {key: OmegaConf.select(run_cfg, key) for key in
                  ("collector.total_frames", "collector.frames_per_batch", "eval.interval", "eval.episodes", "checkpoint.interval")}
        assert budget == {"collector.total_frames": 100_000, "collector.frames_per_batch": 5000 if setting == "logo" else 10,
                          "eval.interval": 5000, "eval.episodes": 10, "checkpoint.interval": 20_000}, (algorithm, setting)
        if setting in ("il_warm_start", "gild"):  # the paper's 1e4 gradient updates, in actor updates
            assert warm_start_setting(run_cfg) == (5000 if algorithm == "td3" else 10_000), (algorithm, setting)
