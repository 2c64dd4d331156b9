"""The embedding model (bot.semantic.model): same vectors as wordllama's own ``embed``, same
tokens as the tokenizer on whole texts, bounded cache, safe under concurrent callers."""

from __future__ import annotations

import importlib.util
import itertools
import json
import logging
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.semantic import model
from bot.semantic.model import Embedder, ModelUnavailable, paper_text

FIXTURES = Path(__file__).parent / "fixtures"


def _real_papers() -> list[tuple[str, str]]:
    """(title, abstract) of the real samples: arXiv snapshot, HF daily papers, HF page."""
    papers = []
    with (FIXTURES / "arxiv-metadata-oai-snapshot.200.jsonl").open(encoding="utf-8") as fh:
        papers += [(r["title"], r["abstract"]) for r in map(json.loads, fh)]
    daily = json.loads((FIXTURES / "daily_papers.sample.json").read_text(encoding="utf-8"))
    papers += [(d["paper"]["title"], d["paper"]["summary"]) for d in daily]
    lines = (FIXTURES / "trending-may-28.txt").read_text(encoding="utf-8").splitlines()
    papers += [(t, a) for t, a in itertools.pairwise(lines) if len(a) > 300]
    return papers


PAPERS = _real_papers()
RAW = [f"{t}\n{a}" for t, a in PAPERS]  # hard-wrapped, leading spaces, LaTeX: as they come
TEXTS = [paper_text(t, a) for t, a in PAPERS]
TRICKY = [
    "",
    " ",
    "   ",
    "a",
    " leading space",
    "trailing space ",
    "two  spaces and   three",
    "tab\tand\nnewline\r\n end",
    "sentencepiece ▁ marker ▁▁inside▁word and ▁",
    "special <s> tokens </s> and <unk>x<s>",
    "<s>",
    "naïve café 東京 😀 Ω≈ç√",
    "x" * 500,
    "  \n  ",
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder.load()


def fresh(embedder: Embedder, cache_pieces: int = model.CACHE_PIECES) -> Embedder:
    """The same model with an empty cache of its own (without reloading the files)."""
    return Embedder(embedder.weights, embedder._tokenizer, "copy", cache_pieces=cache_pieces)


def _wordllama(tmp: Path) -> Any:
    """wordllama's own loader and ``embed``, pointed at a cache folder holding the tokenizer
    it ships under the folder name its loader looks for (no download, nothing modified)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    from wordllama import WordLlama  # its import calls logging.basicConfig: undo that

    root.handlers[:] = handlers
    root.setLevel(level)
    spec = importlib.util.find_spec("wordllama")
    assert spec is not None and spec.submodule_search_locations
    pkg = Path(next(iter(spec.submodule_search_locations)))
    (tmp / "tokenizers").mkdir(exist_ok=True)
    shutil.copy(pkg / model.TOKENIZER_FILES[0], tmp / "tokenizers")
    return WordLlama.load(cache_dir=tmp, disable_download=True)


@pytest.fixture(scope="module")
def wordllama(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _wordllama(tmp_path_factory.mktemp("wordllama"))


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    return np.einsum("ij,ij->i", a, b) / (na * nb)


@pytest.mark.parametrize("texts", [RAW, TEXTS], ids=["raw", "paper_text"])
def test_vectors_match_wordllama_embed_on_real_abstracts(
    embedder: Embedder, wordllama: Any, texts: list[str]
) -> None:
    assert len(texts) > 250
    ours = embedder.embed(texts)
    theirs = wordllama.embed(texts)  # mean of token vectors, not normalised
    assert ours.shape == (len(texts), 256) and ours.dtype == np.float32
    assert _cosines(ours, theirs).min() >= 0.999
    np.testing.assert_allclose(
        ours, theirs / np.linalg.norm(theirs, axis=1, keepdims=True), atol=1e-5
    )


def test_truncated_dimensions_match_wordllama_truncated(wordllama: Any) -> None:
    small = Embedder.load(dim=64)
    assert small.dim == 64 and small.name == "wordllama-l2_supercat-64"
    # what WordLlama.load(trunc_dim=64) builds: its inference class over the first 64 columns
    truncated = type(wordllama)(wordllama.embedding[:, :64], wordllama.tokenizer)
    theirs = truncated.embed(TEXTS[:50])
    assert _cosines(small.embed(TEXTS[:50]), theirs).min() >= 0.999


def test_half_precision_weights_give_the_same_vectors(embedder: Embedder) -> None:
    half = Embedder.load(half=True)
    assert half.weights.dtype == np.float16 and half.weights.nbytes * 2 == embedder.weights.nbytes
    texts = TEXTS[:80] + TRICKY
    np.testing.assert_allclose(half.embed(texts), embedder.embed(texts), atol=1e-6)


def test_names_the_model_and_refuses_other_dimensions(embedder: Embedder) -> None:
    assert embedder.name == "wordllama-l2_supercat-256" and embedder.dim == 256
    with pytest.raises(ValueError, match="dim must be one of 64, 128, 256"):
        Embedder.load(dim=300)


@pytest.mark.parametrize("text", RAW[:40] + TEXTS[:40] + TRICKY)
def test_piece_tokenising_equals_whole_text_tokenising(embedder: Embedder, text: str) -> None:
    whole = embedder._tokenizer.encode(text, add_special_tokens=False).ids
    assert embedder.tokenize(text) == whole


@pytest.fixture(scope="module")
def small_cache(embedder: Embedder) -> Embedder:
    return fresh(embedder, cache_pieces=64)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([" ", "  ", "a", "b", "▁", "<s>", "</s>", "\n", "é", "東", "x"])))
def test_piece_tokenising_equals_whole_text_on_generated_texts(
    small_cache: Embedder, parts: list[str]
) -> None:
    text = "".join(parts)
    assert (
        small_cache.tokenize(text)
        == small_cache._tokenizer.encode(text, add_special_tokens=False).ids
    )


def test_tricky_texts_embed_like_wordllama(embedder: Embedder, wordllama: Any) -> None:
    texts = [t for t in TRICKY if t]
    assert _cosines(embedder.embed(texts), wordllama.embed(texts)).min() >= 0.999


def test_empty_text_gives_a_zero_row_and_others_unit_rows(embedder: Embedder) -> None:
    vecs = embedder.embed(["", TEXTS[0], "", "graph neural networks"])
    assert not vecs[0].any() and not vecs[2].any()
    np.testing.assert_allclose(np.linalg.norm(vecs[[1, 3]], axis=1), 1.0, atol=1e-6)
    assert embedder.embed([]).shape == (0, 256)


def test_deterministic_across_calls_and_fresh_caches(embedder: Embedder) -> None:
    first = embedder.embed(TEXTS)
    again = embedder.embed(TEXTS)  # warm cache
    cold = Embedder.load().embed(TEXTS)  # a new embedder, cold cache
    assert np.array_equal(first, again) and np.array_equal(first, cold)


def test_batch_equals_one_at_a_time(embedder: Embedder) -> None:
    texts = TEXTS[:60] + TRICKY + RAW[:60]
    batch = embedder.embed(texts)
    single = np.concatenate([embedder.embed([t]) for t in texts])
    assert np.array_equal(batch, single)


def test_rejects_a_single_string(embedder: Embedder) -> None:
    with pytest.raises(TypeError, match="not one string"):
        embedder.embed("a title")  # type: ignore[arg-type]


def test_cache_stays_bounded_and_results_do_not_change(embedder: Embedder) -> None:
    expected = embedder.embed(TEXTS)
    small = fresh(embedder, cache_pieces=300)  # far fewer than the samples' distinct words
    for start in range(0, len(TEXTS), 7):
        got = small.embed(TEXTS[start : start + 7])
        assert np.array_equal(got, expected[start : start + 7])
        assert small.cached_pieces <= 300
    # one text with more distinct pieces than the whole cache
    long_text = " ".join(TEXTS[:20])
    tiny = fresh(embedder, cache_pieces=10)
    assert np.array_equal(tiny.embed([long_text]), embedder.embed([long_text]))
    assert tiny.cached_pieces <= 10


def test_concurrent_callers_get_the_same_vectors(embedder: Embedder) -> None:
    texts = TEXTS[:120] + RAW[:120]
    expected = embedder.embed(texts)
    shared = fresh(embedder, cache_pieces=300)  # small: the cache starts over many times
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def work(seed: int) -> None:
        try:
            order = np.random.default_rng(seed).permutation(len(texts))
            start.wait()
            for chunk in np.array_split(order, 100):  # a few texts a call: fits the cache
                got = shared.embed([texts[i] for i in chunk])
                if not np.array_equal(got, expected[chunk]):
                    raise AssertionError(f"thread {seed}: vectors differ")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(6)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors


def test_paper_text_collapses_whitespace_and_cuts_at_a_word() -> None:
    title, abstract = PAPERS[0]
    text = paper_text(title, abstract)
    assert "\n" not in text and "  " not in text
    assert text.startswith(
        "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies A fully"
    )
    body = text[len(" ".join(title.split())) + 1 :]
    assert len(body) <= 600 and " ".join(abstract.split()).startswith(body)
    assert " ".join(abstract.split())[len(body)] == " "  # the cut falls between words
    assert paper_text("T", "one two three", chars=7) == "T one two"
    assert paper_text("T", "abcdefghij", chars=4) == "T abcd"  # no space to cut at
    assert paper_text("  Only  title ", "") == "Only title"
    assert paper_text("", " only abstract ") == "only abstract"
    assert paper_text("", "") == ""


def _fake_package(root: Path, name: str, *, weights: bool = True) -> Path:
    """A package folder holding (copies of) the real model files."""
    real = model._package_dir()
    pkg = root / name
    (pkg / "tokenizers").mkdir(parents=True)
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    shutil.copy(real / model.TOKENIZER_FILES[0], pkg / model.TOKENIZER_FILES[0])
    if weights:
        (pkg / "weights").mkdir()
        (pkg / model.WEIGHTS_FILE).symlink_to(real / model.WEIGHTS_FILE)
    return pkg


@pytest.fixture
def package_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """use(name, weights=None): the model is looked for in package ``name``, made here from
    copies of the real files (without the weights file when ``weights`` is False)."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def use(name: str, weights: bool | None = None) -> Path | None:
        pkg = None if weights is None else _fake_package(tmp_path, name, weights=weights)
        importlib.invalidate_caches()
        monkeypatch.setattr(model, "PACKAGE", name)
        return pkg

    return use


def test_missing_package_is_a_one_line_error(package_named: Any) -> None:
    package_named("no_such_wordllama_package")
    with pytest.raises(ModelUnavailable, match=r"needs the wordllama package: pip install") as exc:
        Embedder.load()
    assert "\n" not in str(exc.value)


def test_missing_weights_file_is_a_one_line_error(package_named: Any) -> None:
    package_named("wl_without_weights", weights=False)
    with pytest.raises(
        ModelUnavailable, match=r"l2_supercat_256.safetensors is missing: reinstall"
    ):
        Embedder.load()


def test_a_copy_of_the_real_files_loads(package_named: Any, embedder: Embedder) -> None:
    package_named("wl_copy", weights=True)
    assert np.array_equal(Embedder.load().embed(TEXTS[:5]), embedder.embed(TEXTS[:5]))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda c: c.update(pre_tokenizer={"type": "Whitespace"}), "pre-tokenizer"),
        (lambda c: c["normalizer"]["normalizers"].append({"type": "Lowercase"}), "normaliser"),
        (lambda c: c["model"]["vocab"].update({"a▁b": 32000}), "token 'a▁b'"),
    ],
)
def test_an_unexpected_tokenizer_is_refused(package_named: Any, change: Any, problem: str) -> None:
    pkg = package_named("wl_changed", weights=True)
    path = pkg / model.TOKENIZER_FILES[0]
    config = json.loads(path.read_text(encoding="utf-8"))
    change(config)
    path.write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ModelUnavailable, match=f"tokenizer is not the expected one.*{problem}"):
        Embedder.load()
