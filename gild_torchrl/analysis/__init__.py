"""Aggregating and plotting studies: ``python -m gild_torchrl.analysis STUDY_DIR``.

Reads every run under a directory (a Hydra study from ``recipes/study.py``, or plain recipe
runs), and writes the learning curves, the divergence-from-demonstrator and diagnostics figures,
the results table (Markdown and CSV) and, for runs that logged a GILD warm start, when its
guidance faded, into ``STUDY_DIR/analysis``. Needs the ``studies`` extra (matplotlib, rliable).
"""

from gild_torchrl.analysis.runs import Run, Study, load_study
from gild_torchrl.analysis.table import results_rows

__all__ = ["Run", "Study", "analyse", "load_study", "results_rows"]


def analyse(*args, **kwargs):
    """See :func:`gild_torchrl.analysis.__main__.analyse`."""
    from gild_torchrl.analysis.__main__ import analyse as _analyse

    return _analyse(*args, **kwargs)
