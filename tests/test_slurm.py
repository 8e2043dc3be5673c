"""Studies on a real Slurm scheduler: the single-node one ``tests/slurm/local_slurm.sh start`` runs here.

Skipped, with the reason printed, where no Slurm answers (``.ci/run`` starts one first). A job
here is one study run through Hydra's submitit launcher (``hydra/launcher=slurm``), as on a cluster.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gild_torchrl.launch import slurm_minutes
from test_study import TINY_PRESET

ROOT = Path(__file__).resolve().parents[1]


def _slurm_state() -> str:
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "no sinfo/sbatch on PATH"
    try:
        state = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 10 s"
    if state.returncode != 0 or not state.stdout.strip():
        return f"no Slurm controller answers ({state.stderr.strip() or 'no nodes'})"
    return ""


_why = _slurm_state()
needs_slurm = pytest.mark.skipif(bool(_why), reason=f"no Slurm scheduler here ({_why}); "
                                 "`bash tests/slurm/local_slurm.sh start` starts one")
# One pytest-xdist worker runs them all, one after another: jobs of two tests at once would queue
# for the node's CPUs and miss the tests' deadlines.
pytestmark = pytest.mark.xdist_group("slurm")

SLURM = ["hydra/launcher=slurm", "hydra.launcher.partition=debug", "hydra.launcher.timeout_min=10",
         "hydra.launcher.mem_gb=2", "hydra.launcher.cpus_per_task=1"]


def study_command(tmp_path: Path, *overrides: str) -> list[str]:
    config_dir = tmp_path / "config"
    (config_dir / "study").mkdir(parents=True, exist_ok=True)
    (config_dir / "study" / "tiny.yaml").write_text(TINY_PRESET)
    return [sys.executable, str(ROOT / "recipes" / "study.py"), "--config-dir", str(config_dir), "study=tiny",
            f"study.dir={tmp_path / 'study'}", *SLURM, *overrides]


def run(cmd: list[str], tmp_path: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=timeout)


def job_ids(study_dir: Path) -> list[str]:
    """The Slurm job ids submitit used, from its per-job folders: ``<job>_<task>`` for an array's tasks
    (the array's own ``<job>`` folder is not a job), ``<job>`` for a single job."""
    names = {p.name for p in (study_dir / ".submitit").iterdir() if p.is_dir() and re.fullmatch(r"\d+(_\d+)?", p.name)}
    return sorted(n for n in names if not any(m.startswith(f"{n}_") for m in names))


def scontrol(job: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True, timeout=10).stdout
    return dict(field.split("=", 1) for field in out.split() if "=" in field)


def test_slurm_time_limits_read_in_minutes():
    assert slurm_minutes("2:00:00") == 120 and slurm_minutes("30") == 30 and slurm_minutes("1-00:00:00") == 1440
    assert slurm_minutes("45:30") == 45.5 and slurm_minutes("infinite") == float("inf")


@needs_slurm
def test_a_study_runs_on_slurm_with_the_resources_it_asked_for_and_the_analysis_reads_it(tmp_path):
    from gild_torchrl.analysis import analyse

    done = run(study_command(tmp_path, "setting=rl,gild"), tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    study_dir = tmp_path / "study"
    for setting in ("rl", "gild"):
        assert (study_dir / "PointNav" / "td3" / setting / "seed0" / "result.json").is_file(), setting
    rows = analyse(study_dir, reps=50)["rows"]
    assert {r["setting"] for r in rows} == {"rl", "gild"} and all(r["finished"] == 1 for r in rows)
    jobs = job_ids(study_dir)
    assert len(jobs) == 2  # one array task per run
    for job in jobs:  # what the launcher asked for reached the job
        fields = scontrol(job)
        assert fields["Partition"] == "debug" and fields["NumCPUs"] == "1", fields
        assert fields["MinMemoryNode"] == "2G" and fields["TimeLimit"] == "00:10:00", fields
        assert fields["JobState"] == "COMPLETED", fields


@needs_slurm
def test_a_job_preempted_after_its_first_checkpoint_is_requeued_and_resumes_from_it(tmp_path):
    """What a cluster does to a preempted job: kill it, requeue it, run it again from the start."""
    run_dir = tmp_path / "study" / "PointNav" / "td3" / "rl" / "seed0"
    # 7,000 frames after the first checkpoint: about 15 s on a fast CPU, so the run is still going when
    # the requeue's SIGKILL comes (KillWait=5 s after SIGTERM, which submitit ignores); with 1,500 it
    # once finished within that window and the requeued job had nothing left to resume.
    total = 8000
    cmd = study_command(tmp_path, "setting=rl", f"collector.total_frames={total}", "checkpoint.interval=1000")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    study = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 180
    while not (run_dir / "checkpoint" / "COMPLETE").is_file():
        assert time.time() < deadline and study.poll() is None, "no checkpoint before the study ended"
        time.sleep(0.5)
    (job,) = job_ids(tmp_path / "study")
    subprocess.run(["scontrol", "requeue", job], check=True, timeout=10)  # SIGTERM, SIGKILL 5 s later, back in the queue
    for _ in range(60):
        if scontrol(job).get("JobState") == "PENDING":
            break
        time.sleep(0.5)
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True, timeout=10)  # skip the requeue delay
    output, _ = study.communicate(timeout=240)
    assert study.returncode == 0, output[-3000:]
    assert scontrol(job)["Restarts"] == "1"
    logs = "".join(p.read_text() for p in (tmp_path / "study" / ".submitit").rglob("*_log.out"))
    assert f"rl/seed0: starting ({total} frames)" in logs
    assert f"rl/seed0: resuming ({total} frames)" in logs, "the run finished before the requeue killed it"
    frames = [int(line.split(",")[0]) for line in (run_dir / "eval.csv").read_text().splitlines()[1:]]
    assert frames == list(range(500, total + 1, 500))  # every evaluation once, none lost or repeated
    assert json.loads((run_dir / "result.json").read_text())["frames"] == total

    again = run(cmd, tmp_path)  # the study has every run finished once: relaunching it runs nothing again
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    logs = "".join(p.read_text() for p in (tmp_path / "study" / ".submitit").rglob("*_log.out"))
    assert logs.count("rl/seed0: finished earlier, skipped") == 1


@needs_slurm
def test_a_partition_or_time_limit_the_cluster_refuses_is_one_sentence_before_submitting(tmp_path):
    wrong = run(study_command(tmp_path, "setting=rl", "hydra.launcher.partition=nosuch"), tmp_path, timeout=60)
    assert wrong.returncode == 2
    assert wrong.stderr.strip().splitlines()[-1] == (
        "error: hydra.launcher.partition='nosuch' is not a partition of this cluster; sinfo lists ['debug'].")
    too_long = run(study_command(tmp_path, "setting=rl", "hydra.launcher.timeout_min=100000"), tmp_path, timeout=60)
    assert too_long.returncode == 2
    assert "error: hydra.launcher.timeout_min=100000 exceeds partition 'debug''s time limit of 120 minutes" in too_long.stderr
    assert not (tmp_path / "study" / ".submitit").exists()  # nothing was submitted
