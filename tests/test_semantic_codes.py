"""Compact vector forms (bot.semantic.codes): int8 round trips, sign-bit order, hamming."""

from __future__ import annotations

import numpy as np
import pytest

from bot.semantic.codes import from_int8, hamming, sign_bits, to_int8


def unit_rows(n: int, dim: int = 256, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    v[:, :8] += 0.5  # not centred, like averaged word vectors
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_int8_scales_each_vector_to_the_full_range() -> None:
    v = unit_rows(50)
    v[7] *= 0.01  # a much shorter vector still uses the full range
    q = to_int8(v)
    assert q.dtype == np.int8 and q.shape == v.shape
    assert (np.abs(q.astype(np.int16)).max(axis=1) == 127).all()
    # the largest component keeps its sign and lands on +-127
    top = np.abs(v).argmax(axis=1)
    assert (q[np.arange(50), top] == np.sign(v[np.arange(50), top]) * 127).all()


def test_int8_error_is_at_most_half_a_step() -> None:
    v = unit_rows(200)
    q = to_int8(v).astype(np.float32)
    peak = np.abs(v).max(axis=1, keepdims=True)
    err = np.abs(v / peak * 127 - q)  # in steps of max|v| / 127
    assert err.max() <= 0.5 + 1e-4


def test_int8_round_trip_keeps_the_direction() -> None:
    v = unit_rows(200)
    back = from_int8(to_int8(v))
    np.testing.assert_allclose(np.linalg.norm(back, axis=1), 1.0, atol=1e-6)
    assert np.einsum("ij,ij->i", v, back).min() >= 0.999
    # cosines between different papers survive too
    exact = v[:20] @ v[20:40].T
    assert np.abs(back[:20] @ back[20:40].T - exact).max() < 0.01


def test_int8_ignores_length_and_keeps_zero() -> None:
    v = unit_rows(3)
    assert np.array_equal(to_int8(v), to_int8(3 * v))
    assert not to_int8(np.zeros(256)).any()
    assert not from_int8(np.zeros(256, dtype=np.int8)).any()
    assert to_int8(v[0]).shape == (256,) and from_int8(to_int8(v[0])).shape == (256,)


def test_int8_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="finite"):
        to_int8(np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match="int8"):
        from_int8(np.zeros(4, dtype=np.int16))
    with pytest.raises(ValueError, match="shape"):
        to_int8(np.zeros((2, 2, 2)))


def test_sign_bits_are_big_endian_within_each_byte() -> None:
    v = -np.ones(16, dtype=np.float32)
    v[0] = 0.3  # component 0 -> top bit of byte 0
    v[9] = 2.0  # component 9 -> second bit of byte 1
    v[15] = 1.0  # component 15 -> lowest bit of byte 1
    assert sign_bits(v).tolist() == [0b1000_0000, 0b0100_0001]
    assert sign_bits(np.zeros(8)).tolist() == [0]  # zero counts as not positive


def test_sign_bits_round_trip_through_unpackbits_and_int8() -> None:
    v = unit_rows(30)
    codes = sign_bits(v)
    assert codes.shape == (30, 32) and codes.dtype == np.uint8
    assert np.array_equal(np.unpackbits(codes, axis=1).astype(bool), v > 0)
    # codes made from the int8 form differ only where a small positive rounded to zero
    q = to_int8(v)
    differ = np.unpackbits(sign_bits(q) ^ codes, axis=1).astype(bool)
    assert (q[differ] == 0).all() and (v[differ] > 0).all()


def test_first_bytes_are_the_code_of_the_first_components() -> None:
    v = unit_rows(10)
    assert np.array_equal(sign_bits(v)[:, :8], sign_bits(v[:, :64]))


def test_sign_bits_need_whole_bytes() -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        sign_bits(np.ones(12))


def test_hamming_counts_differing_bits() -> None:
    v = unit_rows(40)
    codes = sign_bits(v)
    expected = ((v > 0) != (v[3] > 0)).sum(axis=1)
    assert np.array_equal(hamming(codes, codes[3]), expected)
    assert hamming(codes, codes[3])[3] == 0
    with pytest.raises(ValueError, match="do not fit"):
        hamming(codes, codes[3][:4])
