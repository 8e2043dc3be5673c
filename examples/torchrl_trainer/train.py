"""Train with TorchRL's own trainer from a TorchRL config in which the loss is ``gild``.

Launched as TorchRL's config-driven recipes are (``sota-implementations/td3_trainer``): import
TorchRL's configs and gild_torchrl's (which stores ``loss=gild`` and its neighbours in the same
``ConfigStore``), compose, instantiate the trainer, train::

    python examples/torchrl_trainer/train.py                        # TD3+GILD, sparse Hopper, TD3Trainer
    python examples/torchrl_trainer/train.py --config-name sac_gild  # SAC+GILD with SACTrainer
"""

import hydra
import torchrl.trainers.algorithms.configs  # noqa: F401  TorchRL's own groups: env, loss, trainer, ...

import gild_torchrl.trainers.configs  # noqa: F401  adds loss=gild|il|meta_critic, env=sparse_gym, ...


@hydra.main(config_path="config", config_name="td3_gild", version_base="1.3")
def main(cfg) -> None:
    trainer = hydra.utils.instantiate(cfg.trainer)
    trainer.train()


if __name__ == "__main__":
    main()
