"""A study: the recipes' runs for a grid of tasks x algorithms x settings x seeds, as one Hydra multirun.

    python recipes/study.py study=quick                          # 45 min on 2 cores, joblib launcher
    python recipes/study.py study=quick seed='range(10)'         # more seeds: finished runs are skipped
    python recipes/study.py study=paper hydra/launcher=slurm hydra.launcher.partition=<p>
    python -m gild_torchrl.analysis studies/quick                # curves, divergence, results table

Hydra runs one job per combination of the preset's sweep (``config/study/*.yaml``); what a
combination means for the study (skipped, resumed, extended, started) is decided by
:func:`gild_torchrl.training.study.study_job`.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from gild_torchrl.training.study import study_job


@hydra.main(config_path="config", config_name="study", version_base="1.3")
def main(cfg: DictConfig) -> None:
    study_job(cfg)


if __name__ == "__main__":
    main()
