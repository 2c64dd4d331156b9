"""The in-memory vector index (bot.semantic.index): exact against brute force, removal,
rescoring, and searches running beside a writer."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

from bot.semantic.codes import from_int8, hamming, sign_bits, to_int8
from bot.semantic.index import VectorIndex


def unit_rows(n: int, dim: int = 256, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def estimate(codes: np.ndarray, q: np.ndarray, center: np.ndarray | float = 0.0) -> np.ndarray:
    """Stage 2 written plainly: cosine of the centred query with each code as a ±1 vector."""
    c = q / np.linalg.norm(q) - center
    signs = np.where(np.unpackbits(codes, axis=1).astype(bool), 1.0, -1.0)
    return signs @ c / (np.linalg.norm(c) * np.sqrt(codes.shape[1] * 8))


def brute_force(
    codes: np.ndarray, pids: np.ndarray, q: np.ndarray, k: int, center: np.ndarray | float = 0.0
) -> list[int]:
    """Top k pids by the estimate, ties by position."""
    return pids[np.argsort(-estimate(codes, q, center), kind="stable")[:k]].tolist()


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return unit_rows(3000)


@pytest.fixture
def index(vectors: np.ndarray) -> VectorIndex:
    ix = VectorIndex(coarse_bits=64)  # a 64-bit first sweep
    ix.add(np.arange(1000, 4000), sign_bits(vectors))  # pids need not start at 0
    return ix


def test_small_index_search_is_exact(index: VectorIndex, vectors: np.ndarray) -> None:
    codes, pids = sign_bits(vectors), np.arange(1000, 4000)
    for seed in range(8):
        q = unit_rows(1, seed=100 + seed)[0]
        hits = index.search(q, 10, candidates=5000, near=5000)  # all rows, all stages
        assert [p for p, _ in hits] == brute_force(codes, pids, q, 10)
        expected = estimate(codes, q)[[p - 1000 for p, _ in hits]]
        np.testing.assert_allclose([s for _, s in hits], expected, atol=1e-6)
        assert all(-1 <= s <= 1 for _, s in hits)


def test_coarse_stage_keeps_every_code_nearer_than_its_cut(
    index: VectorIndex, vectors: np.ndarray
) -> None:
    codes, pids = sign_bits(vectors), np.arange(1000, 4000)
    for seed in range(8):
        q = unit_rows(1, seed=200 + seed)[0]
        coarse = hamming(codes[:, :8], sign_bits(q)[:8])  # first 64 bits
        counts = np.cumsum(np.bincount(coarse, minlength=65))
        cut = int(np.searchsorted(counts, 300))
        kept = coarse <= cut
        assert kept.sum() <= 600  # no huge tie here: the stage keeps exactly these rows
        expected = brute_force(codes[kept], pids[kept], q, 10)
        assert [p for p, _ in index.search(q, 10, candidates=300, near=10**6)] == expected


def test_default_first_sweep_uses_all_bits(vectors: np.ndarray) -> None:
    ix = VectorIndex()
    codes, pids = sign_bits(vectors), np.arange(3000)
    ix.add(pids, codes)
    for seed in range(10):
        q = unit_rows(1, seed=600 + seed)[0]
        d = hamming(codes, sign_bits(q))
        cut = int(np.searchsorted(np.cumsum(np.bincount(d, minlength=257)), 150))
        kept = d <= cut
        assert kept.sum() <= 300
        expected = brute_force(codes[kept], pids[kept], q, 10)
        assert [p for p, _ in ix.search(q, 10, candidates=150)] == expected
    # every bit different: distance 256, the farthest (not 0 in a byte that overflows)
    assert ix.search(-vectors[0], 1, candidates=1, near=1)[0][0] != 0


def test_hamming_stage_keeps_the_nearest_by_all_bits(
    index: VectorIndex, vectors: np.ndarray
) -> None:
    codes, pids = sign_bits(vectors), np.arange(1000, 4000)
    for seed in range(8):
        q = unit_rows(1, seed=500 + seed)[0]
        d = hamming(codes, sign_bits(q))
        nearest = np.sort(np.lexsort((np.arange(3000), d))[:100])  # ties by position
        expected = brute_force(codes[nearest], pids[nearest], q, 10)
        assert [p for p, _ in index.search(q, 10, candidates=5000, near=100)] == expected


def test_a_stored_vector_finds_itself_first_through_every_stage(
    index: VectorIndex, vectors: np.ndarray
) -> None:
    int8 = to_int8(vectors)
    for row in (0, 1234, 2999):
        assert index.search(vectors[row], 5, candidates=100)[0][0] == 1000 + row
        hits = index.search(
            vectors[row], 5, candidates=100, shortlist=20, rescore=lambda p: int8[p - 1000]
        )
        assert hits[0][0] == 1000 + row and hits[0][1] > 0.9999


def test_codes_are_centred_and_search_uses_the_same_centre(vectors: np.ndarray) -> None:
    center = vectors.mean(axis=0) + 0.05
    ix = VectorIndex(coarse_bits=64, center=center)
    codes = ix.codes(vectors)
    assert np.array_equal(codes, sign_bits(vectors - center))
    assert not np.array_equal(codes, sign_bits(vectors))
    ix.add(np.arange(3000), codes)
    pids = np.arange(3000)
    for seed in range(10):
        q = unit_rows(1, seed=400 + seed)[0]
        assert [p for p, _ in ix.search(q, 10, candidates=5000, near=5000)] == brute_force(
            codes, pids, q, 10, center
        )
        coarse = hamming(codes[:, :8], sign_bits(q - center)[:8])
        cut = int(np.searchsorted(np.cumsum(np.bincount(coarse, minlength=65)), 200))
        kept = coarse <= cut
        assert kept.sum() <= 400  # no huge tie: the coarse stage keeps exactly these rows
        assert [p for p, _ in ix.search(q, 10, candidates=200, near=10**6)] == brute_force(
            codes[kept], pids[kept], q, 10, center
        )
    with pytest.raises(ValueError, match="center"):
        VectorIndex(center=np.ones(3))


def test_removed_papers_are_never_returned(index: VectorIndex, vectors: np.ndarray) -> None:
    gone = np.arange(1000, 1600)
    assert index.remove(np.concatenate([gone, [99, 1000]])) == 600  # unknown and repeated ids
    assert len(index) == 2400 and 1000 not in index and 1600 in index
    keep = np.arange(600, 3000)
    codes, pids = sign_bits(vectors[keep]), keep + 1000
    for seed in range(10):
        q = unit_rows(1, seed=300 + seed)[0]
        assert [p for p, _ in index.search(q, 10, candidates=5000, near=5000)] == brute_force(
            codes, pids, q, 10
        )
    assert index.search(vectors[0], 1)[0][0] != 1000
    assert index.remove([1000]) == 0


def test_compaction_after_many_removals_keeps_results(
    index: VectorIndex, vectors: np.ndarray
) -> None:
    before = index.nbytes
    assert index.remove(np.arange(1000, 3000)) == 2000  # two thirds dead: rows are copied
    assert len(index) == 1000 and index.nbytes < before
    codes, pids = sign_bits(vectors[2000:]), np.arange(3000, 4000)
    q = unit_rows(1, seed=5)[0]
    assert [p for p, _ in index.search(q, 10, near=5000)] == brute_force(codes, pids, q, 10)
    index.add([1000], sign_bits(vectors[:1]))  # a removed id can come back
    assert index.search(vectors[0], 1)[0][0] == 1000


def test_adding_an_existing_id_replaces_its_code(index: VectorIndex, vectors: np.ndarray) -> None:
    new = -vectors[5]
    index.add([1005], sign_bits(new[None, :]))
    assert len(index) == 3000
    assert index.search(new, 1)[0][0] == 1005
    assert all(p != 1005 for p, _ in index.search(vectors[5], 50, candidates=5000, near=5000))


def test_rescoring_ranks_the_shortlist_by_int8_cosine(
    index: VectorIndex, vectors: np.ndarray
) -> None:
    int8 = to_int8(vectors)
    asked: list[np.ndarray] = []

    def rescore(pids: np.ndarray) -> np.ndarray:
        asked.append(pids)
        return int8[pids - 1000]

    q = unit_rows(1, seed=7)[0]
    hits = index.search(2.5 * q, 10, shortlist=50, candidates=5000, near=5000, rescore=rescore)
    assert len(asked) == 1 and asked[0].size == 50
    assert asked[0].tolist() == brute_force(sign_bits(vectors), np.arange(1000, 4000), q, 50)
    assert asked[0].dtype == np.int64
    cos = from_int8(int8[asked[0] - 1000]) @ q
    order = np.argsort(-cos, kind="stable")[:10]
    assert [p for p, _ in hits] == asked[0][order].tolist()
    np.testing.assert_allclose([s for _, s in hits], cos[order], rtol=1e-6)
    # a shortlist of everything ranks by exact cosine over all papers
    every = index.search(q, 10, shortlist=3000, candidates=5000, rescore=rescore)
    exact = np.argsort(-(from_int8(int8) @ q), kind="stable")[:10] + 1000
    assert [p for p, _ in every] == exact.tolist()


def test_rescore_drops_papers_without_a_vector_and_checks_its_answer(index: VectorIndex) -> None:
    q = unit_rows(1, seed=8)[0]
    hits = index.search(q, 10, shortlist=20, rescore=lambda p: np.zeros((p.size, 256), np.int8))
    assert hits == []
    half = index.search(
        q,
        10,
        shortlist=20,
        rescore=lambda p: np.where((p % 2 == 0)[:, None], to_int8(unit_rows(p.size)), 0).astype(
            np.int8
        ),
    )
    assert len(half) == 10 and all(p % 2 == 0 for p, _ in half)
    with pytest.raises(ValueError, match="rescore must return int8"):
        index.search(q, 10, rescore=lambda p: np.zeros((p.size, 256), np.float32))  # type: ignore[arg-type, return-value]


def test_bad_input_is_refused(index: VectorIndex) -> None:
    codes = sign_bits(unit_rows(2))
    with pytest.raises(ValueError, match=r"shape \(2, 32\)"):
        index.add([1, 2], codes[:, :16])
    with pytest.raises(ValueError, match="appears twice"):
        index.add([1, 1], codes)
    with pytest.raises(ValueError, match="between 0 and"):
        index.add([-1, 2], codes)
    with pytest.raises(ValueError, match="integers"):
        index.add([1.5, 2.5], codes)
    with pytest.raises(ValueError, match="256 components"):
        index.search(np.ones(64), 3)
    with pytest.raises(ValueError, match="multiple of 64"):
        VectorIndex(100)
    assert len(index) == 3000  # nothing half-added


def test_empty_index_zero_query_and_k(vectors: np.ndarray, index: VectorIndex) -> None:
    assert VectorIndex().search(vectors[0], 5) == []
    assert index.search(np.zeros(256), 5) == []
    assert index.search(vectors[0], 0) == []
    assert len(index.search(vectors[0], 5000, candidates=100)) == 3000  # k above candidates


def test_memory_is_about_forty_bytes_a_paper() -> None:
    n = 200_000
    codes = np.random.default_rng(1).integers(0, 256, size=(n, 32), dtype=np.uint8)
    ix = VectorIndex()
    ix.add(np.arange(n), codes)
    assert len(ix) == n
    assert 40 * n <= ix.nbytes <= 52 * n


def test_searches_beside_a_writer_see_consistent_rows(vectors: np.ndarray) -> None:
    """Stable papers never change; others are added, replaced and removed meanwhile (with
    compactions). Every search must find each stable paper by its own code."""
    ix = VectorIndex()
    stable = vectors[:200]
    ix.add(np.arange(200), sign_bits(stable))
    churn = sign_bits(vectors[200:])
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        rng = np.random.default_rng(0)
        try:
            while not stop.is_set():
                ids = rng.choice(np.arange(200, 3000), size=300, replace=False)
                ix.add(ids, churn[ids - 200])
                ix.remove(rng.choice(np.arange(200, 3000), size=400, replace=False))
        except BaseException as exc:
            errors.append(exc)

    every = sign_bits(vectors)  # paper p's code, whatever happens to its row

    def reader(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for _ in range(150):
                row = int(rng.integers(200))
                hits = ix.search(stable[row], 10, candidates=int(rng.choice([50, 5000])))
                if not hits or hits[0][0] != row:
                    raise AssertionError(f"paper {row} not found first: {hits}")
                if len({p for p, _ in hits}) != len(hits):
                    raise AssertionError(f"a paper twice: {hits}")
                pids = [p for p, _ in hits]
                want = estimate(every[pids], stable[row])
                if not np.allclose([s for _, s in hits], want, atol=1e-5):
                    raise AssertionError(f"a paper scored with another's code: {hits}")
        except BaseException as exc:
            errors.append(exc)

    w = threading.Thread(target=writer)
    readers = [threading.Thread(target=reader, args=(s,)) for s in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        w.start()
        for t in readers:
            t.start()
        for t in readers:
            t.join()
    finally:
        stop.set()
        w.join()
        sys.setswitchinterval(interval)
    assert not errors, errors


def test_a_paper_being_replaced_is_found_by_a_search_running_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numpy as np

    import bot.semantic.index as index_module
    from bot.semantic.codes import sign_bits
    from bot.semantic.index import VectorIndex

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((50, 256)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    codes = sign_bits(vectors)
    ix = VectorIndex()
    ix.add(np.arange(50), codes)
    assert ix.search(vectors[7], 1)[0][0] == 7
    # The keeper's sync replaces paper 7's code (same vector: its text was re-embedded) while
    # a search runs in another reader thread: simulated by running the writer at the moment
    # the search has taken its snapshot (the GIL may switch threads there).
    real = index_module.sign_bits
    calls = []

    def writer_runs_now(v: np.ndarray) -> np.ndarray:
        if not calls:
            calls.append(1)
            ix.add(np.array([7]), codes[7:8])
        return real(v)

    monkeypatch.setattr(index_module, "sign_bits", writer_runs_now)
    hits = ix.search(vectors[7], 3)
    assert calls and hits[0][0] == 7, hits
