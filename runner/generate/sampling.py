"""Random draws from weighted and decaying distributions, vectorised with numpy."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def draw(
    rng: np.random.Generator, values: np.ndarray, weights: Iterable[float], n: int
) -> np.ndarray:
    """Draw n values with the given (unnormalised) weights.

    Args:
        rng: random generator.
        values: the values.
        weights: one weight per value.
        n: sample size.

    Returns:
        n values.
    """
    p = np.asarray(list(weights), dtype=float)
    return rng.choice(values, size=n, p=p / p.sum())


def spike_decay(n: int, spike: float, tau: float, floor: float) -> np.ndarray:
    """Probabilities over n values: `spike` on the first, the rest decaying to a floor.

    Args:
        n: number of values.
        spike: probability of the first value beyond the decay.
        tau: decay length, in values.
        floor: uniform weight relative to the first decaying value.

    Returns:
        n probabilities summing to 1.

    Example:
        >>> spike_decay(3, 0.5, 1.0, 0.0).round(3).tolist()
        [0.5, 0.366, 0.134]
    """
    tail = np.exp(-np.arange(n - (spike > 0)) / tau) + floor
    tail = tail / tail.sum() * (1 - spike)
    return np.concatenate([[spike], tail]) if spike > 0 else tail


def truncated_exponential(rng: np.random.Generator, upper: np.ndarray, tau: float) -> np.ndarray:
    """Integers in 0..upper (per element), exponentially decaying with length tau.

    Args:
        rng: random generator.
        upper: inclusive upper bounds (non-negative).
        tau: decay length.

    Returns:
        One integer per bound.
    """
    upper = np.maximum(upper, 0)
    mass = 1.0 - np.exp(-(upper + 1) / tau)
    x = -tau * np.log1p(-rng.random(upper.shape) * mass)
    return np.minimum(x.astype(np.int64), upper)
