"""What the size limits cost on the read path (no database): a synthetic arXiv snapshot read
through ``read_papers`` (lines capped, gzip guarded) against a baseline in the same run, the
uncapped reading it replaced (``for line in stream``, ``gzip.open``).

    python -m bench.bench_read                 # 100k papers
    python -m bench.bench_read --size 300000 --repeat 5

Two layers, each plain and gzipped: ``lines`` (splitting and decoding only) and ``papers``
(lines + JSON + snapshot parsing). Best of --repeat runs, baseline and ours interleaved.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

from bench.corpus import OUT, write_corpus
from bot.ingest import arxiv_snapshot, read_papers
from bot.ingest._common import numbered_lines
from bot.ingest.reader import open_binary


def _uncapped_lines(stream: BinaryIO) -> Iterator[tuple[int, str]]:
    """The line reader before the limits: whole lines, however long."""
    for lineno, raw in enumerate(stream, 1):
        yield lineno, raw.decode()


def _open_uncapped(path: Path) -> BinaryIO:
    if path.suffix == ".gz":
        return cast(BinaryIO, gzip.open(path, "rb"))
    return open(path, "rb", buffering=1 << 20)


def _count(items: Iterator[object]) -> int:
    return sum(1 for _ in items)


def baseline_lines(path: Path) -> int:
    with _open_uncapped(path) as stream:
        return _count(_uncapped_lines(stream))


def ours_lines(path: Path) -> int:
    with open_binary(path) as stream:
        return _count(numbered_lines(stream, str(path)))


def baseline_papers(path: Path) -> int:
    with _open_uncapped(path) as stream:
        return _count(arxiv_snapshot.parse_lines(_uncapped_lines(stream)))


def ours_papers(path: Path) -> int:
    return _count(read_papers(path, "arxiv-snapshot"))


def best(run: Callable[[Path], int], path: Path) -> tuple[float, int]:
    began = time.perf_counter()
    n = run(path)
    return time.perf_counter() - began, n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    plain = write_corpus(args.size)
    packed = OUT / f"{plain.name}.gz"
    if not packed.exists():
        with open(plain, "rb") as src, gzip.open(packed, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    print(
        f"corpus: {args.size:,} papers, {plain.stat().st_size / 1e6:.0f} MB "
        f"({packed.stat().st_size / 1e6:.0f} MB gzipped)\n"
    )
    print(f"| {'layer':<14} | {'baseline /s':>12} | {'ours /s':>12} | {'ours / baseline':>15} |")
    print(f"|{'-' * 16}|{'-' * 14}|{'-' * 14}|{'-' * 17}|")
    for label, path, base, ours in (
        ("lines", plain, baseline_lines, ours_lines),
        ("lines, gzip", packed, baseline_lines, ours_lines),
        ("papers", plain, baseline_papers, ours_papers),
        ("papers, gzip", packed, baseline_papers, ours_papers),
    ):
        times: dict[str, float] = {"base": float("inf"), "ours": float("inf")}
        counts: dict[str, int] = {}
        for _ in range(args.repeat):
            for key, run in (("base", base), ("ours", ours)):
                seconds, n = best(run, path)
                times[key] = min(times[key], seconds)
                counts[key] = n
        assert counts["base"] == counts["ours"], counts
        rate_base = counts["base"] / times["base"]
        rate_ours = counts["ours"] / times["ours"]
        print(
            f"| {label:<14} | {rate_base:>12,.0f} | {rate_ours:>12,.0f} | "
            f"{rate_ours / rate_base:>15.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
