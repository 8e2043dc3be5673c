"""The behaviour policy fitted to the demonstrations and the KL divergence of a policy from it."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from tensordict import TensorDict
from torch import distributions as D
from torchrl.modules import TanhNormal

from gild_torchrl import training
from gild_torchrl.modules import make_action_spec
from gild_torchrl.modules.behaviour_policy import fit_behaviour_policy, gaussian_kl, tanh_normal_kl

ROOT = Path(__file__).resolve().parents[1]


def test_the_kl_of_two_known_gaussians():
    # KL(N(0, 1) || N(1, 2^2)) = log 2 + (1 + 1) / 8 - 1/2
    kl = gaussian_kl(torch.tensor([0.0]), torch.tensor([1.0]), torch.tensor([1.0]), torch.tensor([2.0]))
    assert float(kl) == pytest.approx(math.log(2) + 0.25 - 0.5, rel=1e-6)
    assert float(gaussian_kl(torch.zeros(3), torch.ones(3), torch.zeros(3), torch.ones(3))) == 0.0
    g = torch.Generator().manual_seed(0)
    loc_p, loc_q = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    scale_p, scale_q = torch.rand(5, 3, generator=g) + 0.1, torch.rand(5, 3, generator=g) + 0.1
    expected = D.kl_divergence(D.Independent(D.Normal(loc_p, scale_p), 1), D.Independent(D.Normal(loc_q, scale_q), 1))
    torch.testing.assert_close(gaussian_kl(loc_p, scale_p, loc_q, scale_q), expected)


def test_the_tanh_leaves_the_kl_unchanged():
    """KL(p || q) of two TanhNormals is the Gaussian one: a Monte Carlo estimate agrees."""
    p = TanhNormal(torch.tensor([0.3, -0.2]), torch.tensor([0.4, 0.3]), low=-1.0, high=1.0)
    q = TanhNormal(torch.tensor([-0.1, 0.2]), torch.tensor([0.5, 0.6]), low=-1.0, high=1.0)
    torch.manual_seed(0)
    x = p.sample((200_000,))
    monte_carlo = (p.log_prob(x) - q.log_prob(x)).mean()
    assert float(tanh_normal_kl(p, q)) == pytest.approx(float(monte_carlo), rel=0.02)


def test_the_fit_recovers_a_known_gaussian_policy():
    g = torch.Generator().manual_seed(0)
    observation = torch.randn(2000, 3, generator=g)
    weights = torch.tensor([[0.5, -0.3], [0.2, 0.4], [-0.1, 0.1]])
    action = torch.tanh(observation @ weights + 0.2 * torch.randn(2000, 2, generator=g))
    demos = TensorDict({"observation": observation, "action": action}, [2000])
    before = torch.get_rng_state()
    policy, metrics = fit_behaviour_policy(demos, make_action_spec(2), (32, 32), steps=600)
    assert torch.equal(torch.get_rng_state(), before)  # the run's RNG stream is left alone
    assert all(not p.requires_grad for p in policy.parameters())
    fitted = policy.get_dist(demos.select("observation"))
    true = TanhNormal(observation @ weights, torch.full((2000, 2), 0.2), low=-1.0, high=1.0)
    shifted = TanhNormal(observation @ weights + 1.0, torch.full((2000, 2), 0.2), low=-1.0, high=1.0)
    assert float(tanh_normal_kl(fitted, true).mean()) < 0.15
    assert float(tanh_normal_kl(fitted, shifted).mean()) > 10
    assert metrics["behaviour_nll"] == pytest.approx(float(-fitted.log_prob(action.clamp(-0.999, 0.999)).mean()), rel=1e-3)


def config(run_dir: Path, *extra: str):
    with initialize_config_dir(config_dir=str(ROOT / "recipes" / "config"), version_base="1.3"):
        return compose("sac_gild", [
            "env.name=PointNav", "collector.total_frames=400", "collector.init_random_frames=200",
            "collector.frames_per_batch=100", "eval.interval=200", "eval.episodes=2", "network.hidden_sizes=[16,16]",
            "replay_buffer.batch_size=32", "demos.batch_size=32", "demos.pointnav_episodes=3", "logger.progress_bar=false",
            "loss.objective=il", "eval.behaviour_kl=true", "eval.behaviour_fit_steps=100", f"run_dir={run_dir}", *extra])


def test_a_sac_run_measures_the_kl_at_every_evaluation_with_one_stored_behaviour_policy(tmp_path):
    run_dir = tmp_path / "run"
    training.train(config(run_dir))
    stored = (run_dir / "behaviour_policy.pt").read_bytes()
    saved = torch.load(run_dir / "behaviour_policy.pt", weights_only=False)
    assert saved["rows"] > 0 and saved["num_cells"] == [16, 16] and math.isfinite(saved["behaviour_nll"])
    training.run(config(run_dir, f"resume={run_dir}"), extend_to=600)
    assert (run_dir / "behaviour_policy.pt").read_bytes() == stored  # read back, not fitted again
    with (run_dir / "eval.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["frames"]) for r in rows] == [200, 400, 600]
    assert all(float(r["demo_kl"]) > 0 and math.isfinite(float(r["demo_nll"])) for r in rows)


def test_a_deterministic_actor_has_no_kl_to_measure(tmp_path):
    with initialize_config_dir(config_dir=str(ROOT / "recipes" / "config"), version_base="1.3"):
        cfg = compose("td3_gild", ["eval.behaviour_kl=true", f"run_dir={tmp_path}"])
    with pytest.raises(training.ConfigError, match=r"eval.behaviour_kl=true .*algorithm='td3' has a deterministic one"):
        training.check_config(cfg)
