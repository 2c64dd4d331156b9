"""Compact forms of unit vectors: int8 for exact rescoring, packed sign bits for coarse search.

int8, per-vector scale: each vector is scaled so its largest component is ±127 and rounded.
The scale is *not* stored: cosine similarity does not depend on a vector's length, so
:func:`from_int8` returns the int8 vector renormalised to length 1, and the cosine between
a query and a paper is ``query · from_int8(q8)``. Per vector (rather than one global scale)
every vector uses the full int8 range, whatever its largest component; each component is off
by at most half a step, ``max|v| / 254``, before renormalising (tested).

Sign bits: bit ``i`` is 1 when component ``i`` is > 0 (so 0 and negative give 0), packed
big-endian within each byte as :func:`numpy.packbits` does: component 0 is the most
significant bit of byte 0, component 8 that of byte 1. The hamming distance between two codes
estimates the angle between the vectors. The model is Matryoshka-trained, so the first
``d / 8`` bytes of a code are the code of the vector's first ``d`` components.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Int8Array = npt.NDArray[np.int8]
FloatArray = npt.NDArray[np.float32]
CodeArray = npt.NDArray[np.uint8]


def to_int8(vectors: npt.ArrayLike) -> Int8Array:
    """float vectors (n, d) or (d,) → int8, each scaled so its largest |component| is 127.
    A zero vector stays zero."""
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim not in (1, 2):
        raise ValueError(f"expected a vector or a matrix of vectors, got shape {v.shape}")
    if v.shape[-1] == 0:
        raise ValueError("vectors must have at least one component")
    if not np.isfinite(v).all():
        raise ValueError("vectors must be finite (no NaN or infinity)")
    peak = np.abs(v).max(axis=-1, keepdims=True)
    scale = np.divide(127.0, peak, out=np.zeros_like(peak), where=peak > 0)
    out: Int8Array = np.rint(v * scale).astype(np.int8)
    return out


def from_int8(codes: npt.ArrayLike) -> FloatArray:
    """int8 vectors (n, d) or (d,) → float32 unit vectors (zero stays zero)."""
    q = np.asarray(codes)
    if q.dtype != np.int8:
        raise ValueError(f"expected int8 vectors, got {q.dtype}")
    v = q.astype(np.float32)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    np.divide(v, norms, out=v, where=norms > 0)
    return v


def sign_bits(vectors: npt.ArrayLike) -> CodeArray:
    """vectors (n, d) or (d,) of any real dtype → packed sign bits uint8 (n, d / 8) or
    (d / 8,); ``d`` must be a multiple of 8."""
    v = np.asarray(vectors)
    if v.ndim not in (1, 2):
        raise ValueError(f"expected a vector or a matrix of vectors, got shape {v.shape}")
    if v.shape[-1] % 8:
        raise ValueError(f"the dimension must be a multiple of 8, not {v.shape[-1]}")
    return np.packbits(v > 0, axis=-1, bitorder="big")


def hamming(codes: npt.ArrayLike, query: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Hamming distance from each packed code (n, b) to one packed code (b,)."""
    c = np.asarray(codes, dtype=np.uint8)
    q = np.asarray(query, dtype=np.uint8)
    if c.ndim != 2 or q.shape != c.shape[1:]:
        raise ValueError(f"codes {c.shape} and query {q.shape} do not fit")
    out: npt.NDArray[np.int64] = np.bitwise_count(c ^ q).sum(axis=1, dtype=np.int64)
    return out
