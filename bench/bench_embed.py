"""Embedding speed: papers/s for title + first 600 abstract characters, one thread.

    python -m bench.bench_embed [--size 100000] [--wordllama 20000] [--batch 1000]

Rows, on the synthetic corpus of bench/corpus.py (cached under bench/out/):

* ``wordllama embed``: the baseline, ``WordLlama.embed`` (whole-text tokenising), on the first
  ``--wordllama`` papers (it is slow);
* ``ours, cold cache``: a fresh :class:`bot.semantic.model.Embedder` over every paper;
* ``ours, warm cache``: the same embedder over the same papers again;
* ``ours, warm cache, float16 weights``: ``Embedder.load(half=True)``, as a query process;
* ``ours, cache N``: cold, with a smaller piece cache (it starts over when full).

Then the summation step alone (token ids already known), numpy per text vs the alternatives,
and how far our vectors are from wordllama's.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import logging
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_vectors import gil_free_share
from bench.corpus import write_corpus
from bot.semantic.model import TOKENIZER_FILES, Embedder, paper_text


def read_texts(path: Path, limit: int) -> list[str]:
    with path.open(encoding="utf-8") as fh:
        return [
            paper_text(rec["title"], rec["abstract"])
            for rec in map(json.loads, itertools.islice(fh, limit))
        ]


def wordllama_model(tmp: Path) -> Any:
    """wordllama's own loader, pointed at a cache folder holding its shipped tokenizer under
    the folder name it looks for (nothing downloaded, site-packages untouched)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    from wordllama import WordLlama  # its import calls logging.basicConfig

    root.handlers[:] = handlers
    root.setLevel(level)
    spec = importlib.util.find_spec("wordllama")
    assert spec is not None and spec.submodule_search_locations
    pkg = Path(next(iter(spec.submodule_search_locations)))
    (tmp / "tokenizers").mkdir(parents=True, exist_ok=True)
    shutil.copy(pkg / TOKENIZER_FILES[0], tmp / "tokenizers")
    return WordLlama.load(cache_dir=tmp, disable_download=True)


def rate(
    fn: Callable[[list[str]], Any], texts: list[str], batch: int, keep: int = 20_000
) -> tuple[float, Any]:
    """papers/s of ``fn`` over ``texts`` in batches, and the first ``keep`` vectors."""
    out = []
    t0 = time.perf_counter()
    for i in range(0, len(texts), batch):
        vecs = fn(texts[i : i + batch])
        if i < keep:
            out.append(vecs)
    return len(texts) / (time.perf_counter() - t0), np.concatenate(out)[:keep]


def summation_methods(emb: Embedder, texts: Sequence[str], batch: int) -> list[tuple[str, float]]:
    """us/paper of turning known token ids into summed vectors."""
    ids = [np.asarray(emb.tokenize(t), dtype=np.int64) for t in texts]
    weights = emb.weights
    chunks = [ids[i : i + batch] for i in range(0, len(ids), batch)]

    def per_text() -> None:
        for chunk in chunks:
            out = np.zeros((len(chunk), emb.dim), dtype=np.float32)
            for r, row in enumerate(chunk):
                np.add.reduce(weights.take(row, axis=0), axis=0, out=out[r])

    def reduceat() -> None:
        for chunk in chunks:
            flat = np.concatenate(chunk)
            offsets = np.cumsum([0] + [len(r) for r in chunk[:-1]])
            np.add.reduceat(weights[flat], offsets, axis=0)

    methods: list[tuple[str, Callable[[], None]]] = [
        ("numpy take + add.reduce per paper (ours)", per_text),
        ("numpy gather + add.reduceat per batch", reduceat),
    ]
    if importlib.util.find_spec("scipy") is not None:
        import scipy.sparse as sp

        def csr() -> None:
            for chunk in chunks:
                flat = np.concatenate(chunk)
                indptr = np.concatenate(([0], np.cumsum([len(r) for r in chunk])))
                data = np.ones(len(flat), dtype=np.float32)
                m = sp.csr_matrix((data, flat, indptr), shape=(len(chunk), weights.shape[0]))
                m @ weights

        methods.append(("scipy CSR counts @ weights per batch", csr))
    results = []
    for name, fn in methods:
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        results.append((name, best / len(texts) * 1e6))
    return results


def rss_mb() -> float:
    """The process's resident memory now, in MB."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--wordllama", type=int, default=20_000, help="papers for the baseline")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--small-cache", type=int, default=50_000)
    args = parser.parse_args(argv)

    texts = read_texts(write_corpus(args.size, args.seed), args.size)
    print(
        f"{len(texts):,} papers, {sum(map(len, texts)) / len(texts):.0f} characters each "
        f"(title + first 600 of the abstract), batches of {args.batch}"
    )
    rows: list[tuple[str, int, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        wl = wordllama_model(Path(tmp))
        sub = texts[: args.wordllama]
        wl_rate, wl_vecs = rate(lambda b: wl.embed(b, norm=True), sub, args.batch)
        rows.append(("wordllama embed (baseline)", len(sub), wl_rate))

    before = rss_mb()
    emb = Embedder.load()
    loaded = rss_mb()
    cold, ours = rate(emb.embed, texts, args.batch)
    rows.append(("ours, cold cache", len(texts), cold))
    cached = emb.cached_pieces
    warm, _ = rate(emb.embed, texts, args.batch)
    rows.append(("ours, warm cache", len(texts), warm))
    after = rss_mb()
    half = Embedder.load(half=True)
    half.embed(texts[:20_000])
    half_rate, _ = rate(half.embed, texts[:20_000], args.batch)
    rows.append(("ours, warm cache, float16 weights", 20_000, half_rate))
    del half
    small = Embedder.load(cache_pieces=args.small_cache)
    small_rate, _ = rate(small.embed, texts, args.batch)
    rows.append((f"ours, cold, cache {args.small_cache:,} pieces", len(texts), small_rate))

    print(f"\n{'embedder':<40}{'papers':>9}{'papers/s':>11}{'vs wordllama':>14}")
    for name, n, r in rows:
        print(f"{name:<40}{n:>9,}{r:>11,.0f}{r / wl_rate:>13.1f}x")
    cos = np.einsum("ij,ij->i", wl_vecs, ours[: len(wl_vecs)])
    print(f"\ncosine ours vs wordllama over {len(cos):,} papers: min {cos.min():.6f}")
    print(
        f"pieces cached after one pass: {cached:,} (limit {emb._cache_pieces:,}); RSS "
        f"+{loaded - before:.0f} MB for loading the model, +{after - loaded:.0f} MB more "
        f"after both passes (the cache)"
    )

    queries = texts[:50]
    gil = gil_free_share(lambda: emb.embed(texts[:1000]))
    gil_q = gil_free_share(lambda: [emb.embed([t[:60]]) for t in queries])
    print(
        f"share of the time another Python thread runs beside it: {gil:.0%} embedding "
        f"batches of 1000 papers, {gil_q:.0%} embedding short queries one by one"
    )

    print(f"\n{'summation of known token ids':<44}{'us/paper':>10}")
    for name, us in summation_methods(emb, texts[:20_000], args.batch):
        print(f"{name:<44}{us:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
