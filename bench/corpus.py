"""Deterministic synthetic corpora shaped like the real samples, as arXiv-snapshot JSON lines.

Every synthetic paper is seeded by one real sample paper (the arXiv snapshot sample, the
Hugging Face trending page, the daily-papers sample and the arXiv API sample in
``tests/fixtures``): part of its words come from that seed's abstract (so topics cluster and
multi-word queries co-occur the way they do in real abstracts), part from the word
distribution of all samples (so the document frequencies of common words such as "the",
"model", "learning" match the samples), and part from a Zipf-distributed tail of 250,000
synthetic, pronounceable terms (so the vocabulary is as large and as skewed as a real
index's). Titles are built the same way from title words. Authors come from a pool of names
with a realistic share of diacritics, categories from real arXiv category names.

    python -m bench.corpus --size 100000 --out bench/out/corpus-100000.jsonl
    python -m bench.corpus --check            # document frequencies: samples vs synthetic
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import random
import re
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
OUT = ROOT / "bench" / "out"

TAIL_TERMS = 250_000
ZIPF_S = 1.07
# Share of abstract words drawn from the seed paper / all samples / the synthetic tail.
MIX_SEED, MIX_GLOBAL = 0.40, 0.35
TITLE_SEED, TITLE_GLOBAL = 0.45, 0.35

_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*", re.UNICODE)

CATEGORIES = (
    ("cs.LG", 14),
    ("cs.CV", 12),
    ("cs.CL", 9),
    ("cs.AI", 6),
    ("stat.ML", 4),
    ("cs.RO", 3),
    ("cs.SE", 2),
    ("cs.CR", 2),
    ("quant-ph", 5),
    ("hep-ph", 4),
    ("hep-th", 4),
    ("astro-ph.GA", 3),
    ("astro-ph.CO", 3),
    ("cond-mat.mtrl-sci", 3),
    ("cond-mat.str-el", 2),
    ("cond-mat.mes-hall", 2),
    ("gr-qc", 2),
    ("math.CO", 2),
    ("math.PR", 2),
    ("math.AP", 2),
    ("math.NT", 1),
    ("physics.optics", 2),
    ("eess.IV", 2),
    ("eess.SP", 2),
    ("q-bio.NC", 1),
    ("econ.EM", 1),
)

_ONSETS = [
    "b",
    "c",
    "d",
    "f",
    "g",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "w",
    "z",
    "br",
    "cr",
    "dr",
    "fr",
    "gr",
    "pr",
    "tr",
    "st",
    "sp",
    "sk",
    "pl",
    "bl",
    "cl",
    "fl",
    "gl",
    "sh",
    "ch",
    "th",
    "ph",
    "qu",
    "sch",
    "str",
]
_VOWELS = ["a", "e", "i", "o", "u", "a", "e", "i", "o", "ia", "io", "ea", "ou", "y"]
_CODAS = ["", "", "", "n", "r", "s", "l", "m", "t", "x", "nd", "rt", "st", "ck", "ng"]

_FIRST = [
    "Wei",
    "Li",
    "Jun",
    "Yan",
    "Hao",
    "Xin",
    "Ming",
    "Yu",
    "Jie",
    "Lei",
    "Anna",
    "Maria",
    "Elena",
    "Sofia",
    "Laura",
    "Julia",
    "Sara",
    "Chiara",
    "Léa",
    "Zoë",
    "Chloé",
    "Inès",
    "Noémie",
    "José",
    "Andrés",
    "Sebastián",
    "Ramón",
    "Joaquín",
    "Jürgen",
    "Jörg",
    "Søren",
    "Bjørn",
    "Håkon",
    "François",
    "Jérôme",
    "Cédric",
    "Hélène",
    "Agnès",
    "Ana",
    "Pedro",
    "João",
    "Luís",
    "Miguel",
    "Ahmed",
    "Omar",
    "Fatima",
    "Aisha",
    "Yusuf",
    "David",
    "Daniel",
    "Michael",
    "James",
    "John",
    "Robert",
    "Thomas",
    "Peter",
    "Andrew",
    "Paul",
    "Mark",
    "Kevin",
    "Brian",
    "Alex",
    "Sam",
    "Emily",
    "Emma",
    "Olivia",
    "Hannah",
    "Sarah",
    "Rachel",
    "Yuki",
    "Haruto",
    "Sota",
    "Aiko",
    "Takeshi",
    "Hiroshi",
    "Min-jun",
    "Ji-woo",
    "Seo-yeon",
    "Priya",
    "Rahul",
    "Arjun",
    "Ananya",
    "Vikram",
    "Sneha",
    "Ivan",
    "Olga",
    "Dmitri",
    "Natalia",
    "Sergei",
    "Tatiana",
    "Mateusz",
    "Łukasz",
    "Zoltán",
    "Dénes",
    "Ilya",
    "Nikolai",
    "Kemal",
    "Ayşe",
    "Murat",
    "Çağrı",
    "Gökhan",
    "Şebnem",
]
_LAST = [
    "Wang",
    "Li",
    "Zhang",
    "Liu",
    "Chen",
    "Yang",
    "Huang",
    "Zhao",
    "Wu",
    "Zhou",
    "Xu",
    "Sun",
    "Ma",
    "Zhu",
    "Hu",
    "Guo",
    "He",
    "Lin",
    "Luo",
    "Gao",
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Garcia",
    "Rodriguez",
    "Martinez",
    "Hernández",
    "Lopez",
    "González",
    "Pérez",
    "Sánchez",
    "Ramírez",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schäfer",
    "Köhler",
    "Dubois",
    "Lefèvre",
    "Bernard",
    "Moreau",
    "Girard",
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "Kim",
    "Lee",
    "Park",
    "Choi",
    "Jung",
    "Kang",
    "Cho",
    "Yoon",
    "Tanaka",
    "Suzuki",
    "Takahashi",
    "Watanabe",
    "Itô",
    "Yamamoto",
    "Nakamura",
    "Kobayashi",
    "Saitô",
    "Sato",
    "Gupta",
    "Sharma",
    "Patel",
    "Singh",
    "Kumar",
    "Reddy",
    "Iyer",
    "Nair",
    "Ivanov",
    "Petrov",
    "Sokolov",
    "Kuznetsov",
    "Nowak",
    "Kowalski",
    "Wiśniewski",
    "Dvořák",
    "Novák",
    "Horváth",
    "Nagy",
    "Kovač",
    "Jensen",
    "Nielsen",
    "Hansen",
    "Larsen",
    "Andersson",
    "Johansson",
    "Karlsson",
    "Öberg",
    "Åström",
    "Yılmaz",
    "Kaya",
    "Demir",
    "Şahin",
    "Çelik",
    "Öztürk",
    "Nguyen",
    "Tran",
    "Le",
    "Pham",
    "Hoang",
    "Vu",
    "Dang",
    "Bui",
    "Do",
    "Ngo",
    "Albergo",
    "Vanden-Eijnden",
    "Hinton",
    "LeCun",
    "Bengio",
    "Goodfellow",
    "Schmidhuber",
    "Vaswani",
    "Sutskever",
    "Karpathy",
    "Balázs",
    "Berger",
    "Nadolsky",
    "Yuan",
]


@dataclass(frozen=True, slots=True)
class SeedPaper:
    title: str
    abstract: str


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text)


def load_seeds(fixtures: Path = FIXTURES) -> list[SeedPaper]:
    """Every real paper in the fixtures, read with plain json / ElementTree (no bot code)."""
    seeds: list[SeedPaper] = []
    snap = fixtures / "arxiv-metadata-oai-snapshot.200.jsonl"
    for line in snap.read_text("utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            seeds.append(
                SeedPaper(" ".join(rec["title"].split()), " ".join(rec["abstract"].split()))
            )
    # The trending page: a title line followed by its abstract paragraph.
    paras = [p.strip() for p in (fixtures / "trending-may-28.txt").read_text("utf-8").splitlines()]
    paras = [p for p in paras if p]
    for head, body in itertools.pairwise(paras):
        if len(head) < 250 and len(body.split()) > 60:
            seeds.append(SeedPaper(head, body))
    for item in json.loads((fixtures / "daily_papers.sample.json").read_text("utf-8")):
        paper = item["paper"]
        seeds.append(SeedPaper(paper["title"], paper["summary"]))
    ns = {"a": "http://www.w3.org/2005/Atom"}
    for xml in sorted((fixtures / "arxiv-api").glob("*.xml")):
        root = ET.parse(xml).getroot()
        for entry in root.findall("a:entry", ns):
            title = entry.findtext("a:title", "", ns)
            summary = entry.findtext("a:summary", "", ns)
            if title.strip() and summary.strip():
                seeds.append(SeedPaper(" ".join(title.split()), " ".join(summary.split())))
    return seeds


def _tail_terms(rnd: random.Random, count: int, taken: set[str]) -> list[str]:
    terms: list[str] = []
    seen = set(taken)
    while len(terms) < count:
        n = rnd.choice((2, 2, 3, 3, 3, 4))
        word = "".join(rnd.choice(_ONSETS) + rnd.choice(_VOWELS) for _ in range(n - 1))
        word += rnd.choice(_ONSETS) + rnd.choice(_VOWELS) + rnd.choice(_CODAS)
        if word not in seen:
            seen.add(word)
            terms.append(word)
    return terms


def _cumulative(weights: list[float]) -> list[float]:
    return list(itertools.accumulate(weights))


class CorpusGenerator:
    """Generates papers deterministically from ``seed``; the n-th paper never depends on size."""

    def __init__(self, seed: int = 1, fixtures: Path = FIXTURES) -> None:
        self.seed = seed
        rnd = random.Random(seed)
        self.seeds = load_seeds(fixtures)
        self.seed_abstract = [_tokens(s.abstract) for s in self.seeds]
        self.seed_title = [_tokens(s.title) for s in self.seeds]
        # Weighted by document frequency, not token count: a word used ten times in one
        # abstract should not spread over ten times more synthetic papers.
        body = collections.Counter(t for toks in self.seed_abstract for t in set(toks))
        head = collections.Counter(t for toks in self.seed_title for t in set(toks))
        self.global_words = list(body)
        self.global_cum = _cumulative([float(c) for c in body.values()])
        self.title_words = list(head)
        self.title_cum = _cumulative([float(c) for c in head.values()])
        known = {w.lower() for w in body} | {w.lower() for w in head}
        self.tail = _tail_terms(rnd, TAIL_TERMS, known)
        self.tail_cum = _cumulative([1.0 / (r + 10) ** ZIPF_S for r in range(len(self.tail))])
        self.cat_names = [c for c, _ in CATEGORIES]
        self.cat_cum = _cumulative([float(w) for _, w in CATEGORIES])

    def _draw(
        self,
        rnd: random.Random,
        seed_toks: list[str],
        n: int,
        mix: tuple[float, float],
        words: list[str],
        cum: list[float],
    ) -> list[str]:
        n_seed = min(n, max(0, round(rnd.gauss(n * mix[0], (n * mix[0] * (1 - mix[0])) ** 0.5))))
        n_seed = n_seed if seed_toks else 0
        n_glob = round((n - n_seed) * mix[1] / (1.0 - mix[0]))
        n_tail = max(0, n - n_seed - n_glob)
        out = rnd.choices(seed_toks, k=n_seed) if n_seed else []
        out += rnd.choices(words, cum_weights=cum, k=n_glob)
        out += rnd.choices(self.tail, cum_weights=self.tail_cum, k=n_tail)
        rnd.shuffle(out)
        return out

    def _name(self, rnd: random.Random) -> str:
        first = rnd.choice(_FIRST)
        if rnd.random() < 0.3:
            first = first[0] + "."
        return f"{first} {rnd.choice(_LAST)}"

    def paper(self, index: int) -> dict[str, object]:
        """The ``index``-th paper as an arXiv-snapshot record."""
        rnd = random.Random(self.seed * 1_000_003 + index)
        s = rnd.randrange(len(self.seeds))
        n_abs = rnd.randint(150, 250)
        words = self._draw(
            rnd,
            self.seed_abstract[s],
            n_abs,
            (MIX_SEED, MIX_GLOBAL),
            self.global_words,
            self.global_cum,
        )
        lines: list[str] = []
        sentence = 0
        for i, w in enumerate(words):
            if sentence == 0:
                w = w[:1].upper() + w[1:]
            sentence += 1
            if sentence >= 12 + (i * 7) % 13:
                w += "."
                sentence = 0
            lines.append(w)
        abstract = (
            "  " + "\n".join(" ".join(lines[i : i + 12]) for i in range(0, len(lines), 12)) + ".\n"
        )
        n_title = max(3, min(20, int(rnd.gauss(10, 3))))
        t_words = self._draw(
            rnd,
            self.seed_title[s],
            n_title,
            (TITLE_SEED, TITLE_GLOBAL),
            self.title_words,
            self.title_cum,
        )
        title = " ".join(t_words)
        title = title[:1].upper() + title[1:]
        if len(title) > 70:  # real snapshot titles are hard-wrapped too
            cut = title.rfind(" ", 0, 70)
            if cut > 0:
                title = title[:cut] + "\n  " + title[cut + 1 :]
        authors = [self._name(rnd) for _ in range(rnd.randint(3, 6))]
        cats = [rnd.choices(self.cat_names, cum_weights=self.cat_cum)[0]]
        for _ in range(rnd.choice((0, 0, 1, 1, 2))):
            c = rnd.choices(self.cat_names, cum_weights=self.cat_cum)[0]
            if c not in cats:
                cats.append(c)
        day = base_day(index) + timedelta(days=rnd.randint(0, 2))
        created = datetime(
            day.year,
            day.month,
            day.day,
            rnd.randint(0, 23),
            rnd.randint(0, 59),
            rnd.randint(0, 59),
            tzinfo=UTC,
        )
        return {
            "id": arxiv_id(index),
            "submitter": authors[0],
            "authors": ", ".join(authors[:-1]) + " and " + authors[-1],
            "title": title,
            "comments": f"{rnd.randint(4, 40)} pages, {rnd.randint(1, 15)} figures",
            "journal-ref": None,
            "doi": None,
            "report-no": None,
            "categories": " ".join(cats),
            "license": "http://arxiv.org/licenses/nonexclusive-distrib/1.0/",
            "abstract": abstract,
            "versions": [
                {"version": "v1", "created": created.strftime("%a, %-d %b %Y %H:%M:%S GMT")}
            ],
            "update_date": day.isoformat(),
            "authors_parsed": [[a.split(" ", 1)[1], a.split(" ", 1)[0], ""] for a in authors],
        }

    def papers(self, count: int) -> Iterator[dict[str, object]]:
        for i in range(count):
            yield self.paper(i)


_EPOCH = date(2007, 4, 1)
_SPAN_DAYS = 6900  # a million papers span April 2007 .. early 2026


def base_day(index: int) -> date:
    return _EPOCH + timedelta(days=(index * _SPAN_DAYS) // 1_000_000)


def arxiv_id(index: int) -> str:
    """A unique, chronologically increasing new-style id (4 digits before 2015, then 5)."""
    day = base_day(index)
    offset = (day.replace(day=1) - _EPOCH).days
    first = -(-offset * 1_000_000 // _SPAN_DAYS)  # first index falling in this month
    seq = index - first + 1
    yymm = f"{day.year % 100:02d}{day.month:02d}"
    return f"{yymm}.{seq:05d}" if day.year >= 2015 else f"{yymm}.{seq:04d}"


def write_corpus(size: int, seed: int = 1, out: Path | None = None) -> Path:
    """Write (or reuse) ``bench/out/corpus-<size>-s<seed>.jsonl``; returns its path."""
    path = out or OUT / f"corpus-{size}-s{seed}.jsonl"
    if path.exists() and path.with_suffix(".done").exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    gen = CorpusGenerator(seed)
    t0 = time.perf_counter()
    with path.open("w", encoding="utf-8") as fh:
        for i, rec in enumerate(gen.papers(size)):
            fh.write(json.dumps(rec, ensure_ascii=False))
            fh.write("\n")
            if i and i % 200_000 == 0:
                print(f"  corpus: {i:,} papers, {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    path.with_suffix(".done").write_text(str(size))
    return path


def _doc_freqs(docs: list[tuple[str, str]], words: list[str]) -> dict[str, float]:
    df = collections.Counter()
    for title, abstract in docs:
        df.update({t.lower() for t in _tokens(title + " " + abstract)})
    return {w: df[w] / max(1, len(docs)) for w in words}


CHECK_WORDS = (
    "the",
    "of",
    "a",
    "we",
    "model",
    "models",
    "learning",
    "network",
    "neural",
    "diffusion",
    "video",
    "generation",
    "quantum",
    "graph",
    "testing",
    "field",
)


def check(size: int = 20_000, seed: int = 1) -> None:
    """Print document frequencies of common words: the real samples vs a synthetic corpus."""
    gen = CorpusGenerator(seed)
    real = _doc_freqs([(s.title, s.abstract) for s in gen.seeds], list(CHECK_WORDS))
    synth_docs = [(str(p["title"]), str(p["abstract"])) for p in gen.papers(size)]
    synth = _doc_freqs(synth_docs, list(CHECK_WORDS))
    print(f"{'word':<12}{'samples':>10}{'synthetic':>11}")
    for w in CHECK_WORDS:
        print(f"{w:<12}{real[w]:>10.3f}{synth[w]:>11.3f}")
    vocab = collections.Counter()
    lengths = []
    for title, abstract in synth_docs:
        toks = _tokens(abstract)
        lengths.append(len(toks))
        vocab.update({t.lower() for t in toks} | {t.lower() for t in _tokens(title)})
    print(
        f"seeds {len(gen.seeds)}, {size:,} synthetic papers: {len(vocab):,} distinct terms, "
        f"abstract words {min(lengths)}..{max(lengths)} (mean {sum(lengths) / len(lengths):.0f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--check", action="store_true", help="compare document frequencies")
    args = parser.parse_args(argv)
    if args.check:
        check(args.size, args.seed)
        return 0
    path = write_corpus(args.size, args.seed, args.out)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
