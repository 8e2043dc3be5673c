"""LOGO, the paper's on-policy baseline, on a sparse-reward task with sub-optimal demonstrations.

    python recipes/logo.py                                   # sparse Hopper, the bundled demonstrations
    python recipes/logo.py env.name=PointNav collector.total_frames=50000
    python recipes/logo.py loss.objective=rl                 # TRPO alone

TRPO on the task reward, then a guidance step along a discriminator's reward inside a trust
region that decays (``gild_torchrl.objectives.logo``); the run is ``gild_torchrl.training.on_policy``
and the options are in ``config/logo.yaml``.
"""

import hydra

from gild_torchrl.training import run


@hydra.main(config_path="config", config_name="logo", version_base="1.3")
def main(cfg) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
