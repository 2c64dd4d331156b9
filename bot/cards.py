"""Paper → Discord embed. The one place that knows Discord's embed limits.

Every embed the bot sends passes through :func:`fit_embed` (or :func:`fit_embeds` for a whole
message), which enforces: title ≤ 256, description ≤ 4096, ≤ 25 fields, field name ≤ 256,
field value ≤ 1024, footer ≤ 2048, author ≤ 256, and ≤ 6000 characters across all embeds of a
message. Paper text is untrusted: Markdown is escaped and links must be http(s).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from urllib.parse import quote, urlsplit

import discord

from bot import cite
from bot.models import Paper
from bot.text import cut, cut_at_sentence, readable

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
AUTHOR_MAX = 256
MESSAGE_TOTAL_MAX = 6000
EMBEDS_PER_MESSAGE = 10
CHOICE_MAX = 100  # autocomplete choice name/value, select option label, thread name
URL_MAX = 2048
CONTENT_MAX = 2000  # a message's text
APA_SHOWN_MAX = 900

CARD_ABSTRACT_CHARS = 900
TLDR_CHARS = 280
TAGS_SHOWN = 8
AUTHORS_SHOWN = 8
COLOR = discord.Colour(0xFFD21E)  # Hugging Face yellow: readable on dark and light themes
ELLIPSIS = "…"


# The one trimming helper (bot/text.py), by the name the Discord layer has always used.
truncate = cut


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """Drop control and bidi-override characters; collapse white space."""
    return " ".join(_CONTROL.sub("", text).split())


def escape(text: str) -> str:
    """Paper text made inert: Markdown escaped, masked links and mentions defused."""
    text = discord.utils.escape_markdown(clean(text), as_needed=False)
    # Mentions never ping (allowed mentions are off) but should not render as pings either.
    return discord.utils.escape_mentions(text)


def shown_title(paper: Paper) -> str:
    """The title as members read it: LaTeX as Unicode (the store keeps the original)."""
    return readable(paper.title)


def sentences(text: str, limit: int) -> str:
    """*text* (already readable) escaped in at most *limit* characters, cut at a sentence end
    when one is near the limit (:func:`bot.text.cut_at_sentence`)."""
    room = limit
    out = ""
    for _ in range(4):  # escaping adds backslashes: shrink the room by what it added
        out = escape(cut_at_sentence(text, room))
        if len(out) <= limit:
            return out
        room -= len(out) - limit
    return truncate(out, limit)


def safe_url(url: str | None) -> str | None:
    """*url* when it is a plausible http(s) link Discord will accept, else None."""
    if not url:
        return None
    url = url.strip()
    if len(url) > URL_MAX or any(ch.isspace() for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return url


def _md_link(label: str, url: str) -> str:
    # Parentheses and angle brackets inside the URL would end the Markdown link early.
    return f"[{label}]({quote(url, safe=':/?#[]@!$&*+,;=%~.-_')})"


def paper_links(paper: Paper) -> list[tuple[str, str]]:
    """(label, url) for every known, valid link of the paper, in reading order."""
    candidates = (
        ("Abstract", paper.url_abs),
        ("PDF", paper.url_pdf),
        ("Code", paper.url_code),
        ("Project", paper.url_project),
        ("Hugging Face", paper.url_hf),
    )
    return [(label, url) for label, raw in candidates if (url := safe_url(raw))]


def format_authors(authors: Sequence[str], shown: int = AUTHORS_SHOWN) -> str:
    names = [clean(a) for a in authors if clean(a)]
    if not names:
        return ""
    text = ", ".join(escape(n) for n in names[:shown])
    if len(names) > shown:
        text += f" and {len(names) - shown} more"
    return text


def format_tags(keywords: Sequence[str], shown: int = TAGS_SHOWN) -> str:
    """Hugging Face's AI keywords as one line of tags (duplicates and blanks dropped)."""
    seen: dict[str, str] = {}
    for word in keywords:
        text = clean(readable(word))
        if text and text.casefold() not in seen:
            seen[text.casefold()] = text
    return " · ".join(f"`{t.replace('`', 'ˋ')}`" for t in list(seen.values())[:shown])


def format_date(value: date | None) -> str:
    return value.strftime("%-d %b %Y") if value else ""


def paper_embed(
    paper: Paper,
    *,
    context: str | None = None,
    footer: str | None = None,
    abstract_chars: int = CARD_ABSTRACT_CHARS,
    votes: int | None = None,
    why: str | None = None,
) -> discord.Embed:
    """The card for one paper: linked title, trimmed abstract, authors, date, links; *why*
    (already escaped) first among the fields when it is a pick (For you)."""
    url = safe_url(paper.url_abs) or safe_url(paper.url_hf) or safe_url(paper.url_project)
    description = sentences(readable(paper.abstract), abstract_chars) or "*No abstract.*"
    if paper.ai_summary and (tldr := sentences(readable(paper.ai_summary), TLDR_CHARS)):
        description = f"**TL;DR:** {tldr}\n\n{description}"
    embed = discord.Embed(
        title=truncate(escape(shown_title(paper)) or "Untitled", TITLE_MAX),
        url=url,
        description=description,
        colour=COLOR,
    )
    if context:
        embed.set_author(name=truncate(clean(context), AUTHOR_MAX))
    if why:
        embed.add_field(name="Why it's here", value=truncate(why, FIELD_VALUE_MAX), inline=False)
    if authors := format_authors(paper.authors):
        embed.add_field(name="Authors", value=truncate(authors, FIELD_VALUE_MAX), inline=False)
    if paper.published:
        embed.add_field(name="Published", value=format_date(paper.published), inline=True)
    if paper.categories:
        cats = ", ".join(escape(c) for c in paper.categories[:6])
        embed.add_field(name="Categories", value=truncate(cats, FIELD_VALUE_MAX), inline=True)
    social = []
    if paper.upvotes:
        social.append(f"▲ {paper.upvotes} on Hugging Face")
    if votes:
        social.append(f"👍 {votes} here")
    if paper.source_rank:
        social.append(f"#{paper.source_rank} trending")
    if social:
        embed.add_field(name="Popularity", value=" · ".join(social), inline=True)
    if tags := format_tags(paper.ai_keywords):
        embed.add_field(name="Tags", value=truncate(tags, FIELD_VALUE_MAX), inline=False)
    if links := paper_links(paper):
        value = " · ".join(_md_link(label, link) for label, link in links)
        embed.add_field(name="Links", value=truncate(value, FIELD_VALUE_MAX), inline=False)
    embed.set_footer(text=truncate(footer or paper_footer(paper), FOOTER_MAX))
    return fit_embed(embed)


def paper_footer(paper: Paper) -> str:
    return f"arXiv {paper.arxiv_id}" if paper.arxiv_id else "PaperBot"


def list_line(number: int, paper: Paper) -> str:
    """One paper of a numbered list: linked title, then authors · date · upvotes · id."""
    name = truncate(escape(shown_title(paper)), 180)
    url = safe_url(paper.url_abs) or safe_url(paper.url_hf)
    head = f"**{number}.** {_md_link(name, url) if url else name}"
    extra = []
    if paper.authors:
        extra.append(truncate(format_authors(paper.authors, 2), 80))
    if paper.published:
        extra.append(format_date(paper.published))
    if paper.upvotes:
        extra.append(f"▲ {paper.upvotes}")
    if paper.arxiv_id:
        extra.append(f"`{paper.arxiv_id}`")
    return head + ("\n" + " · ".join(extra) if extra else "")


def lists_paper(text: str, paper: Paper, number: int = 1) -> bool:
    """Whether *text* (a list embed's description) lists *paper*: its numbered title line,
    else its link or arXiv id (the title may have changed since)."""
    if list_line(number, paper).split("\n", 1)[0] in text:
        return True
    url = safe_url(paper.url_abs) or safe_url(paper.url_hf)
    if url and _md_link("", url)[2:] in text:
        return True
    return bool(paper.arxiv_id) and f"`{paper.arxiv_id}`" in text


def list_embed(
    title: str,
    papers: Sequence[Paper],
    *,
    start: int = 1,
    description: str | None = None,
    footer: str | None = None,
    notes: Sequence[str | None] = (),
) -> discord.Embed:
    """A compact numbered list of papers (trending, saved, related); *notes* (escaped
    already) add a line under the paper of the same position (a pick's reason)."""
    lines = [list_line(i, paper) for i, paper in enumerate(papers, start=start)]
    for i, note in enumerate(notes[: len(lines)]):
        if note:
            lines[i] += f"\n↳ {truncate(note, 300)}"
    body = "\n".join(lines) or "*Nothing here yet.*"
    if description:
        body = f"{description}\n\n{body}"
    embed = discord.Embed(title=truncate(title, TITLE_MAX), description=body, colour=COLOR)
    if footer:
        embed.set_footer(text=footer)
    return fit_embed(embed)


@dataclass(frozen=True, slots=True)
class ListMessage:
    """One message of a long list: its embeds, and the papers they show (each in full)."""

    embeds: list[discord.Embed]
    papers: list[Paper]


def list_messages(
    title: str,
    papers: Sequence[Paper],
    *,
    description: str | None = None,
    footer: str | None = None,
    more_title: str = "More papers",
    per_embed: int = 10,
) -> list[ListMessage]:
    """A numbered list of any length as as many messages as Discord's limits need.

    Papers are packed in order into embeds (at most *per_embed* each, description ≤ 4096) and
    embeds into messages (≤ 10 embeds, ≤ 6000 characters), and a paper's line is never cut:
    each :class:`ListMessage` says exactly which papers it shows, so a caller can record what
    was delivered. The first embed carries *title* and *description*; the others *more_title*.
    """
    title = truncate(title, TITLE_MAX)
    more_title = truncate(more_title, TITLE_MAX)
    footer = truncate(footer, FOOTER_MAX) if footer else None
    messages: list[ListMessage] = []
    embeds: list[discord.Embed] = []
    shown: list[Paper] = []
    used = 0  # characters of the embeds closed in the current message
    lines: list[str] = []
    members: list[Paper] = []

    def head() -> tuple[str, str | None]:
        first = not messages and not embeds
        return (title, description) if first else (more_title, None)

    def body(lines: list[str], intro: str | None) -> str:
        text = "\n".join(lines)
        return f"{intro}\n\n{text}" if intro else text

    def size(lines: list[str]) -> tuple[int, int]:
        name, intro = head()
        desc = body(lines, intro)
        return len(name) + len(desc) + len(footer or ""), len(desc)

    def close_embed() -> None:
        nonlocal used, lines, members
        name, intro = head()
        embed = discord.Embed(title=name, description=body(lines, intro), colour=COLOR)
        if footer:
            embed.set_footer(text=footer)
        embeds.append(fit_embed(embed))
        used += len(embeds[-1])
        shown.extend(members)
        lines, members = [], []

    def close_message() -> None:
        nonlocal embeds, shown, used
        messages.append(ListMessage(embeds, shown))
        embeds, shown, used = [], [], 0

    for number, paper in enumerate(papers, start=1):
        line = list_line(number, paper)
        while True:
            total, desc_len = size([*lines, line])
            if (
                len(lines) < per_embed
                and desc_len <= DESCRIPTION_MAX
                and used + total <= MESSAGE_TOTAL_MAX
            ):
                lines.append(line)
                members.append(paper)
                break
            if lines:
                close_embed()
                if len(embeds) == EMBEDS_PER_MESSAGE:
                    close_message()
            elif embeds:
                close_message()
            else:
                # Alone in a fresh message and still too long (an absurd link): cut it.
                lines.append(line)
                members.append(paper)
                break
    if lines:
        close_embed()
    if embeds:
        close_message()
    return messages


def pick_reason(because_title: str | None, words: Sequence[str]) -> str:
    """Why a paper was picked for a member, in one line: the saved paper it is closest to,
    and the words of its text that weighed most (For you)."""
    parts = []
    if because_title:
        parts.append(f"because you saved *{truncate(escape(readable(because_title)), 120)}*")
    if words:
        shown = ", ".join(escape(w) for w in words)
        parts.append(f"words that weighed most: {shown}")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:]


def notice_embed(title: str, text: str, *, colour: discord.Colour | None = None) -> discord.Embed:
    embed = discord.Embed(
        title=truncate(title, TITLE_MAX),
        description=truncate(text, DESCRIPTION_MAX),
        colour=colour or COLOR,
    )
    return fit_embed(embed)


def fit_embed(embed: discord.Embed, budget: int = MESSAGE_TOTAL_MAX) -> discord.Embed:
    """Enforce every per-embed limit on *embed* in place and return it.

    Whatever is built elsewhere, this makes it valid: each part is cut to its own limit,
    fields beyond 25 are dropped, then the description and the last fields shrink until the
    whole embed fits in *budget* characters.
    """
    if embed.title:
        embed.title = truncate(embed.title, TITLE_MAX)
    if embed.description:
        embed.description = truncate(embed.description, DESCRIPTION_MAX)
    if embed.author and embed.author.name:
        embed.set_author(
            name=truncate(embed.author.name, AUTHOR_MAX),
            url=embed.author.url,
            icon_url=embed.author.icon_url,
        )
    if embed.footer and embed.footer.text:
        embed.set_footer(
            text=truncate(embed.footer.text, FOOTER_MAX), icon_url=embed.footer.icon_url
        )
    fields = embed.fields[:FIELDS_MAX]
    embed.clear_fields()
    for f in fields:
        embed.add_field(
            name=truncate(f.name or "\u200b", FIELD_NAME_MAX) or "\u200b",
            value=truncate(f.value or "\u200b", FIELD_VALUE_MAX) or "\u200b",
            inline=bool(f.inline),
        )
    excess = len(embed) - budget
    if excess > 0 and embed.description:
        keep = max(len(embed.description) - excess, 0)
        embed.description = truncate(embed.description, keep) or None
        excess = len(embed) - budget
    while excess > 0 and embed.fields:
        last = embed.fields[-1]
        value = last.value or ""
        keep = len(value) - excess
        if keep >= 20:
            embed.set_field_at(
                len(embed.fields) - 1,
                name=last.name,
                value=truncate(value, keep),
                inline=bool(last.inline),
            )
        else:
            embed.remove_field(len(embed.fields) - 1)
        excess = len(embed) - budget
    if excess > 0 and embed.footer and embed.footer.text:
        embed.set_footer(text=truncate(embed.footer.text, max(len(embed.footer.text) - excess, 0)))
        excess = len(embed) - budget
    if excess > 0 and embed.title:
        embed.title = truncate(embed.title, max(len(embed.title) - excess, 1))
    return embed


def fit_embeds(embeds: Sequence[discord.Embed]) -> list[discord.Embed]:
    """Enforce the per-message limits: ≤ 10 embeds, ≤ 6000 characters across them."""
    result: list[discord.Embed] = []
    remaining = MESSAGE_TOTAL_MAX
    for embed in list(embeds)[:EMBEDS_PER_MESSAGE]:
        if remaining < 50:
            break
        fitted = fit_embed(embed, budget=remaining)
        remaining -= len(fitted)
        result.append(fitted)
    return result


def choice_label(text: str) -> str:
    """A label for an autocomplete choice, select option or thread name (≤ 100 chars)."""
    return truncate(clean(text), CHOICE_MAX) or "Untitled"


def title_label(title: str, prefix: str = "") -> str:
    """A paper title as a choice label: LaTeX shown as Unicode, ≤ 100 chars."""
    return choice_label(prefix + readable(title))


# -- citations -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CitationMessage:
    """A citation answer: its text (≤ 2000 characters) and, when the BibTeX entry cannot be
    shown in it, the entry as a file (name, bytes)."""

    content: str
    file: tuple[str, bytes] | None = None


def citation_message(paper: Paper, styles: Sequence[str] = cite.STYLES) -> CitationMessage:
    """The paper's citation in *styles* (``bibtex``, ``apa``) as one message.

    BibTeX goes in a code block (copied as is); a collaboration's thousands of authors are
    cut to ``and others`` to fit, and an entry that cannot be shown whole (a triple backtick
    in a title) is attached as a ``.bib`` file instead.
    """
    head = f"📑 **Cite:** {truncate(escape(shown_title(paper)), 150)}"
    apa_block = ""
    if "apa" in styles:
        apa_block = f"**APA**\n{truncate(escape(cite.apa(paper)), APA_SHOWN_MAX)}"
    if "bibtex" not in styles:
        return CitationMessage(f"{head}\n{apa_block}")
    opening, closing = "**BibTeX**\n```bibtex\n", "```"
    fixed = len(head) + 1 + len(opening) + len(closing) + (len(apa_block) + 1 if apa_block else 0)
    entry = cite.bibtex(paper, max_chars=CONTENT_MAX - fixed)
    if "```" not in entry and fixed + len(entry) <= CONTENT_MAX:
        parts = [head, f"{opening}{entry}{closing}"]
        return CitationMessage("\n".join([*parts, apa_block] if apa_block else parts))
    whole = cite.bibtex(paper)
    note = "**BibTeX:** attached (too long to show here)."
    text = "\n".join(x for x in (head, note, apa_block) if x)
    return CitationMessage(text, (f"{cite.cite_key(paper)}.bib", whole.encode("utf-8")))
