"""DDPG + GILD on a sparse-reward MuJoCo task with sub-optimal demonstrations (the paper's experiment).

    python recipes/ddpg_gild.py                                  # sparse Hopper, GILD for 1% of 1e6 frames
    python recipes/ddpg_gild.py loss.objective=il env.name=Walker2d-v5
    tensorboard --logdir runs

DDPG (one critic, actor and GILD updated on every update) from TorchRL's DDPGLoss;
the loop, the objectives and the options are in ``gild_torchrl.training`` and
``config/gild_defaults.yaml``.
"""

import hydra

from gild_torchrl.training import run


@hydra.main(config_path="config", config_name="ddpg_gild", version_base="1.3")
def main(cfg) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
