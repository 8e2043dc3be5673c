"""A training run's numbers do not move when the loop around the update gets faster.

Short Hopper runs (TD3+GILD on the sparse task, SAC+GILD on the dense one so that rewards reach
the critic) with a fixed seed, through the random phase, GILD's warm start with its meta steps and
plain RL after it. Their logged losses, GILD's meta-utility, the final parameter sums and the
evaluation returns must equal the values below, recorded with ``training.train`` at commit a363241
(before the throughput work of issue #35) on the project's CPU machine, one torch thread. A
change that reorders the update's arithmetic, draws random numbers in another order, stores other
values in the replay buffer or samples other rows fails here.

The evaluation returns alone were recorded again when the evaluation's episodes came to be stepped
together, one env (and seed) per episode (``make_evaluation_envs``): the first episode has the
start it had, the others come from their own seeds, and the actor's batched forward rounds
differently from a one-state forward. Before that: TD3 [[67.54357147216797, 67.73412322998047],
[86.42970275878906, 85.14124298095703]], SAC [[14.51613712310791, 14.257957458496094],
[12.178991317749023, 12.153491020202637]].
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gild_torchrl import training

ROOT = Path(__file__).resolve().parents[1]
RUN = ["env.name=Hopper-v5", "collector.total_frames=600", "collector.init_random_frames=200",
       "collector.frames_per_batch=100", "eval.interval=300", "eval.episodes=2", "network.hidden_sizes=[16,16]",
       "replay_buffer.batch_size=32", "demos.batch_size=32", "loss.objective=gild", "loss.warm_start=40",
       "loss.diagnostics_interval=10", "logger.progress_bar=false", "seed=5", "checkpoint.interval=0"]
CASES = {
    "td3": ["env.sparse=true"],
    "sac": ["env.sparse=false"],
}
RECORDED = {
    "td3": {
        "scalars": {
            "gild/meta_utility": [(201, -7.450580596923828e-08), (211, -7.450580596923828e-07), (221, -4.410743713378906e-06),
                                  (231, -2.9802322387695312e-08), (241, -1.6093254089355469e-06), (251, -7.152557373046875e-07),
                                  (261, 4.3213367462158203e-07), (271, -3.725290298461914e-07)],
            "train/loss_actor": [(300, 0.19973482191562653), (400, 0.20046307146549225), (500, 0.2146797925233841),
                                 (600, 0.2069685161113739)],
            "train/loss_gild": [(300, 2.995133399963379e-06)],
            "train/loss_qvalue": [(300, 0.01656302809715271), (400, 0.010479782707989216), (500, 0.007427496369928122),
                                  (600, 0.007698801811784506)],
        },
        "parameter_sums": {
            "base_loss.actor_network_params": -3.314844097039895,
            "base_loss.target_actor_network_params": -3.572789383935742,
            "base_loss.qvalue_network_params": -7.922816697420785,
            "base_loss.target_qvalue_network_params": -8.417994736213586,
            "gild_network_params": 12.772988355048312,
        },
        "rewarded_transitions": 0,
        "eval_dense_returns": [[67.54357147216797, 67.78186798095703], [86.68753051757812, 88.0833511352539]],
    },
    "sac": {
        "scalars": {
            "gild/meta_utility": [(201, -0.012495875358581543), (211, -0.0035385191440582275), (221, -0.005430042743682861),
                                  (231, 0.001385807991027832)],
            "train/alpha": [(300, 0.19999998807907104), (400, 0.19999998807907104), (500, 0.19999998807907104),
                            (600, 0.19999998807907104)],
            "train/loss_actor": [(300, -0.5051925778388977), (400, -0.8542944192886353), (500, -1.3255548477172852),
                                 (600, -1.6518436670303345)],
            "train/loss_alpha": [(300, -8.193059921264648), (400, -7.991541385650635), (500, -8.025373458862305),
                                 (600, -8.093996047973633)],
            "train/loss_gild": [(300, 0.016157979145646095)],
            "train/loss_qvalue": [(300, 1.6630747318267822), (400, 0.8038089275360107), (500, 0.9729255437850952),
                                  (600, 0.5570043921470642)],
        },
        "parameter_sums": {
            "base_loss.actor_network_params": -5.103205278865062,
            "base_loss.qvalue_network_params": 16.881245793920243,
            "base_loss.target_qvalue_network_params": 5.725938447852968,
            "gild_network_params": 11.929228547645323,
        },
        "rewarded_transitions": 600,
        "eval_dense_returns": [[14.51613712310791, 14.83398151397705], [12.158467292785645, 12.063172340393066]],
    },
}


def parameter_sums(loss_module) -> dict[str, float]:
    """The float64 sum of each parameter set of the loss (actor, critics, their targets, GILD's network)."""
    sums: dict[str, float] = {}
    for key, value in loss_module.state_dict().items():
        if isinstance(value, torch.Tensor) and "params" in key:
            parts = key.split(".")
            group = ".".join(parts[:2]) if parts[0] == "base_loss" else parts[0]
            sums[group] = sums.get(group, 0.0) + float(value.double().sum())
    return sums


@pytest.mark.parametrize("algorithm", list(CASES))
def test_a_short_run_logs_the_recorded_numbers(tmp_path, algorithm):
    run_dir = tmp_path / "run"
    with initialize_config_dir(config_dir=str(ROOT / "recipes" / "config"), version_base="1.3"):
        cfg = compose(f"{algorithm}_gild", [*RUN, *CASES[algorithm], f"run_dir={run_dir}"])
    evaluations, final = [], {}

    def record(loss_module, row) -> bool:
        evaluations.append(row["dense_returns"])
        final.update(parameter_sums(loss_module))
        return False

    result = training.train(cfg, on_evaluation=record)
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    expected = RECORDED[algorithm]
    logged = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in expected["scalars"]}
    assert result["updates"] == 400 and result["rewarded_transitions"] == expected["rewarded_transitions"]
    for tag, values in expected["scalars"].items():
        assert logged[tag] == values, tag
    assert final == expected["parameter_sums"]
    assert evaluations == expected["eval_dense_returns"]
