"""A member's model: a linear score over the papers' unit vectors, learnt from their signals.

Two models, both linear (``score(x) = w · x + b``), so both explain themselves the same way
(:mod:`.explain`):

* :func:`classifier`, as arxiv-sanity-lite does it: a linear classifier per member, the
  positives their ⭐ saves and 👍 votes, the negatives their 👎 dismissals plus a sample of
  other papers. Here a logistic regression (or, ``loss="hinge"``, a linear SVM with the
  squared hinge loss, LinearSVC's default) with an L2 penalty, each class weighted to half
  the loss ("balanced"), dismissals weighing ``dismissal_weight`` times a sampled paper,
  trained by Nesterov-accelerated gradient descent: ``steps`` full-batch steps over a few
  hundred 256-dimensional rows, a few milliseconds.
* :func:`centroid`: the mean of the member's vectors, centred on the candidates' mean (the
  vectors share a large common component that says nothing about a topic), minus
  ``negative_weight`` times the mean of their dismissals (Rocchio).

bench/bench_recs.py measures both on simulated members; the recommender uses the classifier
from :data:`CLASSIFIER_MIN` positives and the centroid below (where the two measure alike
and the classifier has too little to learn from).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
Loss = Literal["logistic", "hinge"]

CLASSIFIER = "classifier"
CENTROID = "centroid"

CLASSIFIER_MIN = 3
"""Positives from which the classifier is used (below: the centroid); bench/bench_recs.py."""
NEGATIVE_SAMPLE = 200
"""Other papers sampled as the classifier's negatives (arxiv-sanity-lite uses every paper)."""
L2 = 1e-2
STEPS = 200
RATE = 2.0  # unit vectors: the logistic loss is 1/4-smooth, so steps up to 8 are stable
MOMENTUM = 0.9
DISMISSAL_WEIGHT = 4.0
NEGATIVE_WEIGHT = 0.1  # the centroid's Rocchio weight on dismissals (0.5 hurt: the bench)


@dataclass(frozen=True, slots=True)
class LinearModel:
    """``score(x) = weights · x + bias`` over unit vectors; higher is a better pick."""

    kind: str  # CLASSIFIER or CENTROID
    weights: FloatArray  # (dim,)
    bias: float

    def scores(self, vectors: FloatArray) -> FloatArray:
        out: FloatArray = vectors @ self.weights + np.float32(self.bias)
        return out


def _matrix(rows: npt.ArrayLike, dim: int) -> FloatArray:
    m = np.asarray(rows, dtype=np.float32)
    return m.reshape(-1, dim)


def centroid(
    positives: npt.ArrayLike,
    negatives: npt.ArrayLike,
    center: npt.ArrayLike,
    *,
    negative_weight: float = NEGATIVE_WEIGHT,
) -> LinearModel:
    """The member's direction from the candidates' mean: mean of ``positive - center``,
    minus *negative_weight* times the mean of ``negative - center``. Needs one positive."""
    c = np.asarray(center, dtype=np.float32)
    pos = _matrix(positives, c.size)
    if not len(pos):
        raise ValueError("a centroid needs at least one positive")
    neg = _matrix(negatives, c.size)
    w = (pos - c).mean(axis=0)
    if len(neg) and negative_weight:
        w = w - np.float32(negative_weight) * (neg - c).mean(axis=0)
    norm = float(np.linalg.norm(w))
    if norm > 0:
        w = w / np.float32(norm)
    w = w.astype(np.float32)
    return LinearModel(CENTROID, w, -float(w @ c))


def classifier(
    positives: npt.ArrayLike,
    sampled: npt.ArrayLike,
    dismissed: npt.ArrayLike = (),
    *,
    loss: Loss = "logistic",
    l2: float = L2,
    steps: int = STEPS,
    rate: float = RATE,
    momentum: float = MOMENTUM,
    dismissal_weight: float = DISMISSAL_WEIGHT,
) -> LinearModel:
    """A balanced linear classifier: *positives* against *sampled* other papers and the
    member's *dismissed* ones. Needs one positive and one negative."""
    pos = np.asarray(positives, dtype=np.float32)
    dim = pos.shape[-1]
    pos = pos.reshape(-1, dim)
    samp = _matrix(sampled, dim)
    dism = _matrix(dismissed, dim)
    if not len(pos) or not (len(samp) or len(dism)):
        raise ValueError("a classifier needs a positive and a negative")
    x = np.concatenate([pos, samp, dism])
    y = np.concatenate([np.ones(len(pos)), -np.ones(len(samp)), -np.ones(len(dism))]).astype(
        np.float32
    )
    # Each class weighs half the loss; within the negatives a dismissal outweighs a sample.
    neg_units = len(samp) + dismissal_weight * len(dism)
    sample_w = np.concatenate(
        [
            np.full(len(pos), 0.5 / len(pos)),
            np.full(len(samp), 0.5 / neg_units),
            np.full(len(dism), 0.5 * dismissal_weight / neg_units),
        ]
    ).astype(np.float32)
    w = np.zeros(dim, dtype=np.float32)
    b = np.float32(0.0)
    vw = np.zeros(dim, dtype=np.float32)
    vb = np.float32(0.0)
    mom, lr, lam = np.float32(momentum), np.float32(rate), np.float32(l2)
    for _ in range(steps):
        ahead_w, ahead_b = w + mom * vw, b + mom * vb
        margin = y * (x @ ahead_w + ahead_b)
        if loss == "logistic":
            # d/dm log(1 + e^-m) = -1 / (1 + e^m), computed without overflow
            grad_m = -0.5 * (1.0 - np.tanh(0.5 * margin))
        else:
            grad_m = -2.0 * np.maximum(0.0, 1.0 - margin)
        g = (grad_m * y * sample_w).astype(np.float32)
        gw = (x.T @ g + lam * ahead_w).astype(np.float32)
        gb = np.float32(g.sum())
        vw = mom * vw - lr * gw
        vb = mom * vb - lr * gb
        w = w + vw
        b = b + vb
    return LinearModel(CLASSIFIER, w.astype(np.float32), float(b))


def member_model(
    positives: npt.ArrayLike,
    dismissed: npt.ArrayLike,
    sampled: npt.ArrayLike,
    center: npt.ArrayLike,
    *,
    classifier_min: int = CLASSIFIER_MIN,
) -> LinearModel:
    """The model the recommender uses for a member: the classifier from *classifier_min*
    positives on (against *sampled* other papers and their dismissals), else the centroid."""
    pos = np.asarray(positives, dtype=np.float32)
    if len(pos) >= classifier_min and len(np.asarray(sampled)):
        return classifier(pos, sampled, dismissed)
    return centroid(pos, dismissed, center)
