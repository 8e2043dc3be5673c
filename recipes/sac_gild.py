"""SAC + GILD on a sparse-reward MuJoCo task with sub-optimal demonstrations (the paper's experiment).

    python recipes/sac_gild.py                                  # sparse Hopper, GILD for 1% of 1e6 frames
    python recipes/sac_gild.py loss.objective=il env.name=Walker2d-v5
    tensorboard --logdir runs

SAC (TanhNormal actor, twin critics, temperature fixed at 0.2 or tuned per task) from TorchRL's SACLoss;
the loop, the objectives and the options are in ``gild_torchrl.training`` and
``config/gild_defaults.yaml``.
"""

import hydra

from gild_torchrl.training import run


@hydra.main(config_path="config", config_name="sac_gild", version_base="1.3")
def main(cfg) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
