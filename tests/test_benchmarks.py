"""The benchmark scripts run (tiny budgets; their figures are read from their own output, never timed here)."""

from __future__ import annotations

import sys

from benchmarks import collection_floor


def test_collection_floor_prints_every_part_and_the_shares(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["collection_floor", "--frames", "40", "--rounds", "1"])
    collection_floor.main()
    out = capsys.readouterr().out
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ")[-1].strip(" |") for line in out.splitlines()
            if line.startswith("| ") and not line.startswith("| part") and not line.startswith("| loop")}
    assert {"gymnasium step", "TorchRL collector, make_env, exploration policy", "replay sample(256)",
            "plain TD3 update", "TorchRL floor (bare GymWrapper, random actions, TorchRL replay)"} <= set(rows)
    assert all(float(value) > 0 for value in rows.values())
    assert 0 < float(rows["recipe (make_env + exploration policy, TorchRL replay)"]) < 100


def test_recipe_throughput_runs_as_a_file_from_the_repository_root():
    """`python benchmarks/recipe_throughput.py`, as the docs write it: the repository's benchmarks
    package is imported, not a `benchmarks` namespace an installed dependency ships."""
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "benchmarks/recipe_throughput.py", "--help"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--frames-per-batch" in done.stdout
