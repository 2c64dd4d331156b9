"""What citations cost: a reading-list export by format and size, and one Cite answer by the
number of authors (a collaboration paper has thousands).

    python -m bench.bench_cite

Papers are the real arXiv sample (tests/fixtures, LaTeX-heavy abstracts), repeated with new
ids to reach each size. The baseline, measured in the same run, is writing the same papers as
JSON (``Paper.to_dict``): what any export costs before LaTeX encoding and formatting. Every
run starts cold (the caches of LaTeX-to-text and name splitting cleared).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bot import cards, cite
from bot.ingest import arxiv_snapshot
from bot.models import Paper
from bot.names import split_name
from bot.text import readable

SAMPLE = (
    Path(__file__).resolve().parent.parent / "tests/fixtures/arxiv-metadata-oai-snapshot.200.jsonl"
)
REPEATS = 5


def _papers(count: int) -> list[Paper]:
    base = [
        p
        for line in SAMPLE.read_text(encoding="utf-8").splitlines()
        if isinstance(p := arxiv_snapshot.parse_record(json.loads(line)), Paper)
    ]
    return [dataclasses.replace(base[i % len(base)], id=f"2401.{i:05d}") for i in range(count)]


def _as_json(papers: list[Paper]) -> str:
    return json.dumps([p.to_dict() for p in papers])


def _median_ms(run: Callable[[], object]) -> tuple[float, object]:
    times, out = [], None
    for _ in range(REPEATS):
        # cold each time: readable() and split_name() cache what they converted
        readable.cache_clear()
        split_name.cache_clear()
        t = time.perf_counter()
        out = run()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,500,1000")
    args = parser.parse_args(argv)
    print(f"Python {sys.version.split()[0]}\n")
    print("| papers | format | ms | ms / paper | size | vs JSON |")
    print("|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        papers = _papers(size)
        base_ms, data = _median_ms(partial(_as_json, papers))
        assert isinstance(data, str)
        print(f"| {size:,} | JSON (baseline) | {base_ms:.1f} | {base_ms / size:.3f} | "
              f"{len(data) // 1024:,} KB | 1.0× |")  # fmt: skip
        for fmt in cite.EXPORT_FORMATS:
            ms, made = _median_ms(partial(cite.export, papers, fmt))
            assert isinstance(made, cite.ExportFile)
            print(f"| {size:,} | {made.description} | {ms:.1f} | {ms / size:.3f} | "
                  f"{len(made.data) // 1024:,} KB | {ms / base_ms:.1f}× |", flush=True)  # fmt: skip
    print("\n| authors | Cite answer, ms | BibTeX alone, ms | answer characters |")
    print("|---|---|---|---|")
    for authors in (3, 300, 3000):
        paper = Paper.create(
            title="Observation of a new particle",
            arxiv_id="1207.7214",
            authors=[f"Physicist{i} Surnamé{i}" for i in range(authors)],
            categories=["hep-ex"],
        )
        bib_ms, _ = _median_ms(partial(cite.bibtex, paper))
        ms, message = _median_ms(partial(cards.citation_message, paper))
        assert isinstance(message, cards.CitationMessage)
        print(f"| {authors:,} | {ms:.1f} | {bib_ms:.1f} | {len(message.content):,} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
