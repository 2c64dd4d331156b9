"""Readable paper text: LaTeX as Unicode on real abstracts, cuts at sentences, never a crash."""

from __future__ import annotations

import json
import re
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from bot.text import cut, cut_at_sentence, readable
from tests.helpers_store import SNAPSHOT, TRENDING


def snapshot_abstract(paper_id: str) -> str:
    for line in SNAPSHOT.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["id"] == paper_id:
            return str(record["abstract"])
    raise KeyError(paper_id)


def test_real_latex_heavy_abstracts_read_as_unicode() -> None:
    cusp = readable(snapshot_abstract("0704.0012"))  # sums, Gamma, subscripts, \mathbb
    assert "$" not in cusp and "\\" not in cusp
    assert "Γ₀(N)" in cusp and "ℤ" in cusp and "∞" in cusp
    baryons = readable(snapshot_abstract("0704.0016"))
    assert "Ξ" in baryons and "Ω" in baryons and "$" not in baryons
    accents = readable(snapshot_abstract("0704.0028"))  # R\'ev\'esz
    assert "Révész" in accents
    groebner = readable(snapshot_abstract("0704.0019"))  # Gr\"obner
    assert "Gröbner" in groebner


def test_the_issue_examples() -> None:
    assert readable(r"an $\alpha$-blend") == "an α-blend"
    assert readable(r"$256\times256$ images") == "256×256 images"
    assert readable(r"\textit{very} good") == "very good"
    assert readable(r"Bal\'azs") == "Balázs"
    assert readable(r"$x^2 + y_{ij}$") == "x² + yᵢⱼ"


def test_plain_text_stays_as_it_is() -> None:
    for line in TRENDING.read_text(encoding="utf-8").splitlines()[:40]:
        if not any(ch in line for ch in "\\$^_{}~") and not re.search(r"\dtimes", line):
            assert readable(line) == " ".join(line.split())
    assert readable("50% of the time, 100 % sure") == "50% of the time, 100 % sure"
    assert readable("see github.com/a/b_c and snake_case") == "see github.com/a/b_c and snake_case"


def test_leftovers_of_scraped_latex() -> None:
    # from the trending page: a lost backslash, \eg, a stray brace
    assert readable("runs 10times faster") == "runs 10× faster"
    assert readable(r"tasks, \eg editing") == "tasks, e.g. editing"
    assert readable("{Firstly, we") == "Firstly, we"
    assert readable(r"as in \cite{ho2020} and Fig.~\ref{f}") == "as in and Fig."


def test_a_percent_sign_does_not_swallow_the_rest() -> None:
    # In LaTeX "%" starts a comment; in an abstract it is a percent sign.
    assert readable(r"improves $\alpha$ by 50% on both") == "improves α by 50% on both"


def test_a_dollar_that_is_money_is_not_math() -> None:
    # A title or abstract (Hugging Face's are plain text) talking about money: a "$" that
    # opens no math is a dollar sign, as Pandoc reads it (no math closes before a digit).
    assert readable("Training a frontier model for under $100") == (
        "Training a frontier model for under $100"
    )
    assert readable("We raise $1M and $2M in two rounds") == "We raise $1M and $2M in two rounds"
    assert readable(r"costs $5 per run and $x^2$ grows") == "costs $5 per run and x² grows"
    assert readable("a 100$ prize") == "a 100$ prize"
    assert readable(r"$10^{-3}$ error, $2$-step") == "10⁻³ error, 2-step"


@given(st.text(max_size=300))
def test_any_text_is_safe(text: str) -> None:
    out = readable(text)
    assert isinstance(out, str)
    assert len(out) <= 4 * len(text) + 10


def test_cuts() -> None:
    text = "First sentence is here. Second one is a bit longer than that. Third goes on."
    assert (
        cut_at_sentence(text, 70) == "First sentence is here. Second one is a bit longer than that."
    )
    assert cut_at_sentence(text, 500) == text
    assert cut_at_sentence("no sentence end in sight at all here", 20) == "no sentence end in…"
    assert cut("a b c", 10) == "a b c"
    assert len(cut("word " * 50, 30)) <= 30


def test_a_cut_never_splits_a_letter_from_its_accent_or_an_emoji_in_two() -> None:
    decomposed = "Nguye\u0302\u0303n" * 20  # "Nguyễn" as some sources write it (NFD)
    for limit in range(5, 60):
        out = cut(decomposed, limit)
        assert len(out) <= limit
        body = out.removesuffix("…")
        assert decomposed.startswith(body)
        # the letter before the cut keeps all its marks
        assert not unicodedata.combining(decomposed[len(body)]), (limit, out)
    flags = "🇩🇪🇫🇷🇯🇵🇧🇷" * 5  # each flag is two regional indicators
    for limit in range(3, 30):
        body = cut(flags, limit).removesuffix("…")
        assert len(body) % 2 == 0, limit  # a lone indicator shows as a letter in a box
    family = "👨\u200d👩\u200d👧" * 10  # one emoji: three people joined by ZWJ
    for limit in range(3, 40):
        body = cut(family, limit).removesuffix("…")
        assert len(body) % 5 == 0, (limit, body)  # whole families only
