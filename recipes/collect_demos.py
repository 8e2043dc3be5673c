"""Generate sub-optimal demonstrations: train a TD3 behaviour policy on the dense task, roll it out.

    python recipes/collect_demos.py env.name=Hopper-v5 stop.target_return=1500 stop.max_return=2000

What it does (stop rule, rollouts, resume) is :func:`gild_torchrl.training.collect_demos.collect`;
the options are ``config/collect_demos.yaml``.
"""

import hydra
from omegaconf import DictConfig

from gild_torchrl.training.collect_demos import collect


@hydra.main(version_base="1.3", config_path="config", config_name="collect_demos")
def main(cfg: DictConfig) -> None:
    collect(cfg)


if __name__ == "__main__":
    main()
