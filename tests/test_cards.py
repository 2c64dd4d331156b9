"""Card building: content, escaping, and Discord's embed limits on hostile records."""

import json
from datetime import date

import discord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import cards
from bot.models import Paper


def assert_within_limits(embed: discord.Embed) -> None:
    data = embed.to_dict()
    assert len(data.get("title", "")) <= 256
    assert len(data.get("description", "")) <= 4096
    fields = data.get("fields", [])
    assert len(fields) <= 25
    for f in fields:
        assert 0 < len(f["name"]) <= 256
        assert 0 < len(f["value"]) <= 1024
    assert len(data.get("footer", {}).get("text", "")) <= 2048
    assert len(data.get("author", {}).get("name", "")) <= 256
    assert len(embed) <= 6000
    if "url" in data:
        assert data["url"].startswith(("http://", "https://"))


def test_card_shows_every_known_part() -> None:
    paper = Paper.create(
        title="Attention Is All You Need",
        arxiv_id="1706.03762v7",
        abstract="The dominant sequence transduction models " * 60,
        authors=[f"Author {i}" for i in range(12)],
        published=date(2017, 6, 12),
        categories=["cs.CL", "cs.LG"],
        url_code="https://github.com/tensorflow/tensor2tensor",
        upvotes=7,
    )
    embed = cards.paper_embed(paper, context="Trending today")
    assert embed.title == "Attention Is All You Need"
    assert embed.url == "https://arxiv.org/abs/1706.03762"
    assert embed.description is not None
    assert len(embed.description) <= cards.CARD_ABSTRACT_CHARS
    assert embed.description.endswith("…") and not embed.description.endswith(" …")
    fields = {f.name: f.value for f in embed.fields}
    assert fields["Authors"].endswith("and 4 more")
    assert fields["Published"] == "12 Jun 2017"
    assert fields["Categories"] == "cs.CL, cs.LG"
    links = fields["Links"]
    for label in ("Abstract", "PDF", "Code", "Hugging Face"):
        assert f"[{label}](" in links
    assert "Project" not in links
    assert embed.author.name == "Trending today"
    assert embed.footer.text == "arXiv 1706.03762"
    assert_within_limits(embed)


def test_markdown_and_mentions_in_paper_text_are_inert() -> None:
    paper = Paper.create(
        title="@everyone **bold** [click](https://evil.example) <@123>",
        abstract="@here `code` ||spoiler|| _x_",
        authors=["@everyone"],
        url_abs="javascript:alert(1)",
        url_code="https://github.com/x/y)[owned](https://evil.example",
        url_project="https://example.org/has space",
    )
    embed = cards.paper_embed(paper)
    assert embed.url is None  # not an http(s) link
    assert "@everyone" not in (embed.title or "")
    assert "\\*\\*bold\\*\\*" in (embed.title or "")
    assert "\\[click](" in (embed.title or "")  # escaped: no masked link
    assert "@here" not in (embed.description or "")
    links = next(f.value for f in embed.fields if f.name == "Links")
    # The parenthesis in the hostile URL is encoded, so the Markdown link cannot be broken out of.
    assert ")" not in links.split("](", 1)[1][:-1]
    assert "Project" not in links  # a URL with white space is dropped


def test_truncate_cuts_on_a_word_boundary() -> None:
    assert cards.truncate("short", 10) == "short"
    assert cards.truncate("alpha beta gamma delta", 12) == "alpha beta…"
    assert len(cards.truncate("x" * 500, 100)) == 100
    assert cards.truncate("abc", 0) == ""


def test_fit_embed_repairs_an_oversized_embed_built_elsewhere() -> None:
    embed = discord.Embed(title="t" * 300, description="d " * 3000)
    for i in range(30):
        embed.add_field(name=f"n{i}" * 100, value="v" * 2000)
    embed.set_footer(text="f" * 3000)
    cards.fit_embed(embed)
    assert_within_limits(embed)
    assert len(embed.fields) >= 1


def test_fit_embeds_keeps_a_message_under_6000_characters() -> None:
    big = [discord.Embed(title="t", description="w " * 2000) for _ in range(12)]
    fitted = cards.fit_embeds(big)
    assert len(fitted) <= 10
    assert sum(len(e) for e in fitted) <= 6000


def test_list_embed_numbers_papers_and_links_titles() -> None:
    papers = [Paper.create(title=f"Paper {i}", arxiv_id=f"2401.0000{i}") for i in range(1, 4)]
    embed = cards.list_embed("Trending", papers, start=4)
    assert embed.description is not None
    assert "**4.** [Paper 1](https://arxiv.org/abs/2401.00001)" in embed.description
    assert "**6.**" in embed.description
    assert_within_limits(embed)


hostile_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12000
) | st.sampled_from(["@everyone", "*" * 5000, "[a](b)" * 1000, "\\" * 3000, "🧪" * 4000, ""])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=hostile_text.filter(lambda t: t.strip() != ""),
    abstract=hostile_text,
    authors=st.lists(hostile_text, max_size=300),
    categories=st.lists(hostile_text, max_size=50),
    url=st.one_of(st.none(), hostile_text, st.just("https://x.org/" + "a" * 3000)),
    context=st.one_of(st.none(), hostile_text),
)
def test_any_paper_gives_a_valid_card(
    title: str,
    abstract: str,
    authors: list[str],
    categories: list[str],
    url: str | None,
    context: str | None,
) -> None:
    paper = Paper(
        id="t-x",
        title=title,
        abstract=abstract,
        authors=authors,
        categories=categories,
        url_abs=url,
        url_pdf=url,
        url_code=url,
        url_project=url,
        url_hf=url,
        upvotes=10**9,
    )
    embed = cards.paper_embed(paper, context=context)
    assert_within_limits(embed)
    embed.to_dict()  # serialisable as Discord expects


@given(st.lists(hostile_text.filter(lambda t: t.strip() != ""), min_size=1, max_size=15))
@settings(max_examples=30, deadline=None)
def test_any_list_gives_a_valid_embed(titles: list[str]) -> None:
    papers = [
        Paper(id=f"t-{i}", title=t, authors=[t], url_abs="https://a.b/" + str(i))
        for i, t in enumerate(titles)
    ]
    assert_within_limits(cards.list_embed("x" * 300, papers, description="d" * 5000))


@given(hostile_text)
def test_choice_labels_fit_discord(text: str) -> None:
    label = cards.choice_label(text)
    assert 1 <= len(label) <= 100


def test_list_messages_split_a_long_list_without_cutting_a_paper() -> None:
    # 50 papers with long titles and author lists: more than one message can hold.
    papers = [
        Paper.create(
            title=f"Paper {i:02d}: " + "A Very Long Title About Diffusion Transformers " * 5,
            arxiv_id=f"2401.{i:05d}",
            authors=["Ada Lovelace", "Alan Turing", "Grace Hopper"],
            published=date(2024, 1, 2),
            upvotes=i,
        )
        for i in range(50)
    ]
    messages = cards.list_messages(
        "New papers", papers, description="Matching “diffusion”.", footer="f", more_title="More"
    )
    assert len(messages) > 1
    shown = [p for m in messages for p in m.papers]
    assert shown == papers  # every paper once, in order
    number = 0
    for m in messages:
        assert 1 <= len(m.embeds) <= cards.EMBEDS_PER_MESSAGE
        assert sum(len(e) for e in m.embeds) <= cards.MESSAGE_TOTAL_MAX
        text = "\n".join(e.description or "" for e in m.embeds)
        for e in m.embeds:
            assert_within_limits(e)
        for p in m.papers:
            number += 1
            # The paper's whole line is there: number, linked title (as long as any list
            # shows it), and the details line; nothing cut in the middle.
            line = cards.list_line(number, p)
            assert line in text
            assert f"`{p.arxiv_id}`" in line
        assert "…\n" not in text and not text.endswith("…")
    assert messages[0].embeds[0].title == "New papers"
    assert messages[0].embeds[0].description.startswith("Matching “diffusion”.\n\n")  # type: ignore[union-attr]
    assert {e.title for m in messages for e in m.embeds[1:]} | {
        m.embeds[0].title for m in messages[1:]
    } == {"More"}


# -- readable cards (issue 11, item 4) ---------------------------------------------------------


def snapshot_paper(paper_id: str) -> Paper:
    from bot.ingest import arxiv_snapshot
    from tests.helpers_store import SNAPSHOT

    for line in SNAPSHOT.read_text(encoding="utf-8").splitlines():
        if f'"id":"{paper_id}"' in line.replace(" ", ""):
            item = arxiv_snapshot.parse_record(json.loads(line))
            assert isinstance(item, Paper)
            return item
    raise KeyError(paper_id)


def daily_paper(paper_id: str) -> Paper:
    from bot.ingest import hf_daily
    from tests.helpers_store import DAILY

    for item in hf_daily.parse_bytes(DAILY.read_bytes()):
        if isinstance(item, Paper) and item.id == paper_id:
            return item
    raise KeyError(paper_id)


def test_a_latex_heavy_real_abstract_reads_as_unicode_on_the_card() -> None:
    paper = snapshot_paper("0704.0012")
    assert "$" in paper.abstract and "\\Gamma_0" in paper.abstract  # the original, as stored
    embed = cards.paper_embed(paper)
    text = embed.description or ""
    assert "Γ₀(N)" in text and "ℤ" in text and "∞" in text
    assert "$" not in text and "\\Gamma" not in text and "\\mathbb" not in text
    assert paper.abstract.startswith("Recently, Bruinier")  # the card never changes the paper
    assert_within_limits(embed)

    title = cards.paper_embed(snapshot_paper("0704.0013")).title
    assert title == "p-adic Limit of Weakly Holomorphic Modular Forms of Half Integral Weight"
    accent = snapshot_paper("0704.0073")
    assert (
        cards.paper_embed(accent).title
        == "A transcendental approach to Kollár's injectivity theorem"
    )
    line = cards.list_line(1, accent)
    assert "Kollár" in line and "\\'" not in line
    assert cards.title_label(snapshot_paper("0704.0119").title).endswith("CeAg₂Ge₂ single crystal")


def test_a_long_abstract_is_cut_at_a_sentence() -> None:
    paper = snapshot_paper("0704.0053")  # 1,367 characters with 40 dollar signs
    shown = cards.paper_embed(paper).description or ""
    assert len(shown) <= cards.CARD_ABSTRACT_CHARS
    assert shown.endswith(".") and not shown.endswith("…")
    assert "$" not in shown
    # it is the start of the readable abstract, whole sentences of it
    from bot.text import readable

    assert readable(paper.abstract).startswith(shown.replace("\\", "")[:200])


def test_hugging_face_summary_and_keywords_show_as_tldr_and_tags() -> None:
    paper = daily_paper("2603.21489")
    assert paper.ai_summary and paper.ai_keywords
    embed = cards.paper_embed(paper)
    description = embed.description or ""
    first, _, rest = description.partition("\n\n")
    assert first.startswith("**TL;DR:** Multi-agent collaboration framework")
    assert "\n" not in first and len(first) <= cards.TLDR_CHARS + 20
    assert rest.startswith(cards.escape(paper.abstract[:40]))
    tags = next(f.value for f in embed.fields if f.name == "Tags")
    assert tags == " · ".join(f"`{k}`" for k in paper.ai_keywords)
    assert_within_limits(embed)

    plain = snapshot_paper("0704.0001")  # arXiv only: no summary, no tags
    embed = cards.paper_embed(plain)
    assert "TL;DR" not in (embed.description or "")
    assert "Tags" not in {f.name for f in embed.fields}


def test_tags_are_deduplicated_capped_and_inert() -> None:
    words = ["Diffusion", "diffusion", "`tick`", "@everyone", *[f"w{i}" for i in range(20)]]
    tags = cards.format_tags(words)
    assert tags.count("`") == 2 * cards.TAGS_SHOWN
    assert tags.lower().count("diffusion") == 1
    assert "`ˋtickˋ`" in tags


# -- citation answers (issue 11, item 3) -------------------------------------------------------


def test_a_citation_answer_fits_one_message_or_attaches_the_entry() -> None:
    crowd = Paper.create(
        title="Observation of a new boson",
        arxiv_id="1207.7235",
        authors=[f"Physicist{i} Surname{i}" for i in range(3000)],
        categories=["hep-ex"],
    )
    message = cards.citation_message(crowd)
    assert message.file is None and len(message.content) <= cards.CONTENT_MAX
    assert " and others},\n" in message.content and "**APA**" in message.content

    fenced = Paper.create(title="Why ```code``` fences matter", arxiv_id="2401.00005")
    message = cards.citation_message(fenced)
    assert message.file is not None and "```" not in message.content.split("\n", 1)[1]
    name, data = message.file
    assert name == "anon2024why.bib" and b"```code```" in data


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=hostile_text.filter(lambda t: t.strip() != ""),
    authors=st.lists(hostile_text, max_size=60),
    journal=st.one_of(st.none(), hostile_text),
)
def test_any_citation_answer_fits_discord(
    title: str, authors: list[str], journal: str | None
) -> None:
    paper = Paper(id="2401.00006", title=title, authors=authors, journal_ref=journal)
    for styles in (("bibtex", "apa"), ("bibtex",), ("apa",)):
        message = cards.citation_message(paper, styles)
        assert 0 < len(message.content) <= cards.CONTENT_MAX


def test_a_paper_stored_under_another_kind_of_id_gets_no_arxiv_links() -> None:
    # A row stored by an earlier version under a JSON-lines record's own id.
    from bot import cite

    paper = Paper(id="openreview:rJXMpikCZ", title="A paper only on OpenReview")
    assert paper.arxiv_id is None
    assert cards.paper_footer(paper) == "PaperBot"
    assert "openreview" not in cards.list_line(1, paper)
    assert cite.doi_url(paper) is None and cite.paper_url(paper) is None
    assert "arXiv" not in cite.bibtex(paper) and "arxiv.org" not in cite.apa(paper)
