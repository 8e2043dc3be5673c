"""Per-run scores of an evaluation curve, and their aggregates over seeds with rliable.

Every function takes the evaluation frames and returns of one run (``eval.csv``). A score a run
never reaches (no sparse reward, never the demonstrator's return) is ``nan``, and the tables say
how many runs reached it.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import numpy as np

#: Evaluations averaged for a run's final return (the paper's "mean of the last evaluations").
FINAL_EVALUATIONS = 3


@contextlib.contextmanager
def _seeded_bootstrap(seed: int) -> Iterator[np.random.RandomState]:
    """Make rliable's bootstrap reproducible.

    rliable 1.2's ``StratifiedBootstrap`` draws its indices from NumPy's *global* RNG and ignores
    the ``random_state`` it is given, so the global RNG is seeded here and restored afterwards;
    arch's deprecation warning about that ``random_state`` is silenced.
    """
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield np.random.RandomState(seed)
    finally:
        np.random.set_state(state)


def final_return(returns: np.ndarray, last: int = FINAL_EVALUATIONS) -> float:
    """Mean of the last ``last`` evaluations."""
    returns = np.asarray(returns, dtype=float)
    return float(np.mean(returns[-last:])) if returns.size else float("nan")


def first_frame_above(frames: np.ndarray, returns: np.ndarray, threshold: float, strict: bool = False) -> float:
    """Frames at the first evaluation whose return is >= ``threshold`` (> with ``strict``); nan if none."""
    frames, returns = np.asarray(frames, dtype=float), np.asarray(returns, dtype=float)
    reached = returns > threshold if strict else returns >= threshold
    return float(frames[np.argmax(reached)]) if reached.any() else float("nan")


def frames_to_first_sparse_reward(frames: np.ndarray, sparse_returns: np.ndarray) -> float:
    """Frames at the first evaluation with a non-zero sparse return (the policy moved past the gate)."""
    return first_frame_above(frames, np.abs(np.asarray(sparse_returns, dtype=float)), 0.0, strict=True)


def first_frame_staying_below(frames: np.ndarray, values: np.ndarray, threshold: float) -> float:
    """Frames at the first point from which every later value is below ``threshold``; nan if the last is not.

    When a diagnostic settled for good (the GILD term's pull on the actor fading), not when it first dipped.
    """
    frames, values = np.asarray(frames, dtype=float), np.asarray(values, dtype=float)
    above = np.flatnonzero(~(values < threshold))
    if not values.size or (above.size and above[-1] == values.size - 1):
        return float("nan")
    return float(frames[above[-1] + 1]) if above.size else float(frames[0])


def normalised_auc(frames: np.ndarray, returns: np.ndarray) -> float:
    """Area under the return curve (trapezoids over frames) divided by the frames it spans.

    In the return's own unit: the run's average evaluation return, so runs with different
    evaluation intervals compare directly (runs of different budgets average over different spans).
    """
    frames, returns = np.asarray(frames, dtype=float), np.asarray(returns, dtype=float)
    if frames.size < 2:
        return float(returns[0]) if returns.size else float("nan")
    area = np.sum((returns[1:] + returns[:-1]) / 2 * np.diff(frames))
    return float(area / (frames[-1] - frames[0]))


def iqm_interval(scores: np.ndarray, reps: int = 2000, seed: int = 0, confidence: float = 0.95) -> tuple[float, float, float]:
    """Interquartile mean over runs with its stratified-bootstrap confidence interval (rliable).

    ``scores``: one value per run (``(runs,)``) or per run and task (``(runs, tasks)``: the
    bootstrap resamples runs within each task). Returns ``(iqm, low, high)``.
    """
    from rliable import library as rly
    from rliable import metrics

    scores = np.asarray(scores, dtype=float)
    if scores.ndim == 1:
        scores = scores[:, None]
    if scores.shape[0] == 0 or np.isnan(scores).any():
        return float("nan"), float("nan"), float("nan")
    with _seeded_bootstrap(seed) as random_state:
        points, intervals = rly.get_interval_estimates(
            {"runs": scores},
            lambda x: np.array([metrics.aggregate_iqm(x)]),
            reps=reps,
            confidence_interval_size=confidence,
            random_state=random_state,
        )
    return float(points["runs"][0]), float(intervals["runs"][0, 0]), float(intervals["runs"][1, 0])


def mean_curve_interval(curves: np.ndarray, reps: int = 2000, seed: int = 0, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean learning curve over runs (``(runs, evaluations)``) with a bootstrap band over runs (rliable)."""
    from rliable import library as rly

    curves = np.asarray(curves, dtype=float)
    if curves.shape[0] < 2:
        return curves.mean(axis=0), curves.mean(axis=0), curves.mean(axis=0)
    with _seeded_bootstrap(seed) as random_state:
        points, intervals = rly.get_interval_estimates(
            {"runs": curves[:, None, :]},
            lambda x: np.mean(x, axis=(0, 1)),
            reps=reps,
            confidence_interval_size=confidence,
            random_state=random_state,
        )
    return points["runs"], intervals["runs"][0], intervals["runs"][1]
