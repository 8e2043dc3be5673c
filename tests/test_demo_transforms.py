"""Demonstration transforms on known rows, the recipe options that apply them, and Minari export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tensordict import TensorDict

from gild_torchrl.data import DemonstrationError, Demonstrations, mix, negate_actions, subsample_episodes, with_action_noise

ROOT = Path(__file__).resolve().parents[1]


def known(episodes: int = 4, length: int = 3, offset: float = 0.0) -> Demonstrations:
    """Episode e, step t: observation (e, t), action ((e + t) / 10 - 0.3 + offset, 0.5)."""
    e, t = torch.meshgrid(torch.arange(episodes), torch.arange(length), indexing="ij")
    e, t = e.reshape(-1).double(), t.reshape(-1).double()
    data = TensorDict(observation=torch.stack([e, t], -1), action=torch.stack([(e + t) / 10 - 0.3 + offset, torch.full_like(e, 0.5)], -1),
                      episode=e.long(), next=TensorDict(reward=torch.ones(len(e), 1, dtype=torch.float64), batch_size=[len(e)]),
                      batch_size=[len(e)])
    return Demonstrations(data, meta={"task": "Toy", "returns": [float(length)] * episodes})


def test_subsampling_keeps_whole_episodes_and_their_returns():
    demos = known()
    out = subsample_episodes(demos, 2, seed=3)
    kept = sorted({int(o) for o in out.data["observation"][:, 0]})
    assert len(kept) == 2 and out.num_episodes == 2 and len(out) == 6
    assert out.data["episode"].tolist() == [0, 0, 0, 1, 1, 1]
    for row in range(len(out)):  # every row is the original row of its episode and step
        e, t = out.data["observation"][row].tolist()
        assert out.data["action"][row].tolist() == pytest.approx([(e + t) / 10 - 0.3, 0.5])
    assert out.returns == [3.0, 3.0] and out.meta["transforms"][-1]["episodes"] == kept
    assert subsample_episodes(demos, 2, seed=3).data["observation"].equal(out.data["observation"])  # seeded
    assert len(demos) == 12  # the input is unchanged
    with pytest.raises(DemonstrationError, match="episodes=5; expected 1 to 4"):
        subsample_episodes(demos, 5)


def test_action_noise_has_the_asked_spread_and_stays_in_bounds():
    rows = 20_000
    data = TensorDict(observation=torch.zeros(rows, 1), action=torch.zeros(rows, 2), batch_size=[rows])
    noisy = with_action_noise(Demonstrations(data), 0.3, low=-1.0, high=1.0, seed=0).data["action"]
    assert float(noisy.std()) == pytest.approx(0.3, rel=0.03) and float(noisy.mean()) == pytest.approx(0.0, abs=0.01)
    clipped = with_action_noise(Demonstrations(data.clone().update({"action": torch.full((rows, 2), 0.95)})), 0.3, seed=0)
    assert float(clipped.data["action"].max()) == 1.0 and float(clipped.data["action"].min()) >= -1.0
    assert clipped.meta["transforms"] == [{"action_noise": 0.3, "seed": 0, "low": -1.0, "high": 1.0}]
    assert clipped.returns is None  # the demonstrator's returns no longer describe these actions


def test_negated_and_mixed_sets_hold_the_expected_rows():
    a, b = known(2), known(3, offset=0.1)
    negated = negate_actions(a)
    assert torch.equal(negated.data["action"], -a.data["action"]) and torch.equal(negated.data["observation"], a.data["observation"])
    both = mix(a, b)
    assert len(both) == 15 and both.num_episodes == 5
    assert torch.equal(both.data["action"][6:], b.data["action"]) and both.data["episode"][6:].tolist() == [2, 2, 2, 3, 3, 3, 4, 4, 4]
    assert both.returns == [3.0] * 5
    with pytest.raises(DemonstrationError, match="cannot mix demonstrations of observation/action dimensions 2/2 and 3/2"):
        mix(a, Demonstrations(TensorDict(observation=torch.zeros(2, 3), action=torch.zeros(2, 2), batch_size=[2])))


def test_the_recipe_applies_the_transforms_from_its_options(tmp_path):
    from hydra import compose, initialize_config_dir

    from gild_torchrl.envs import make_env

    from gild_torchrl import training
    second = tmp_path / "second"
    from gild_torchrl.data import pointnav_demonstrations

    pointnav_demonstrations(num_episodes=2, seed=7).save(second)
    with initialize_config_dir(config_dir=str(ROOT / "recipes" / "config"), version_base="1.3"):
        cfg = compose("td3_gild", ["env.name=PointNav", "demos.pointnav_episodes=4", f"demos.mix_with={second}",
                                   "demos.episodes=3", "demos.action_noise=0.3", "demos.negate_actions=true"])
    env = make_env("PointNav")
    demos = training.make_demonstrations(cfg, env)
    env.close()
    steps = [next(iter(step)) for step in demos.meta["transforms"]]
    assert steps == ["mix_with", "subsample_episodes", "action_noise", "negate_actions"]
    assert demos.num_episodes == 3 and float(demos.data["action"].abs().max()) <= 1.0


def test_minari_export_reads_back_the_same_values(tmp_path, monkeypatch):
    minari = pytest.importorskip("minari")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    demos = known()
    demos.to_minari("gildtest/toy-v0")
    dataset = minari.load_dataset("gildtest/toy-v0")
    episodes = list(dataset.iterate_episodes())
    assert len(episodes) == 4 and dataset.total_steps == 12
    for i, episode in enumerate(episodes):
        rows = demos.data[demos.data["episode"] == i]
        np.testing.assert_array_equal(episode.observations[:-1], rows["observation"].numpy())
        np.testing.assert_array_equal(episode.observations[-1], rows["observation"][-1].numpy())  # no next observation stored
        np.testing.assert_array_equal(episode.actions, rows["action"].numpy())
        np.testing.assert_array_equal(episode.rewards, np.ones(3))
        assert bool(episode.truncations[-1])
    back = Demonstrations.from_minari("gildtest/toy-v0")
    assert torch.equal(back.data["observation"], demos.data["observation"]) and torch.equal(back.data["action"], demos.data["action"])
    assert "final observation repeats its last one" in dataset.storage.metadata["description"]
