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
