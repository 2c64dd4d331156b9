"""Citations (issue 11, item 3): BibTeX, APA, RIS and CSV of real papers, every file parsed
back with an independent reader (bibtexparser, pylatexenc's LaTeX decoder, rispy, csv)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import date
from pathlib import Path

import bibtexparser
import pytest
import rispy
from pylatexenc.latex2text import LatexNodes2Text

from bot import cite
from bot.ingest import arxiv_atom, arxiv_snapshot
from bot.models import Paper, merge
from bot.names import same_person, split_name
from bot.store import Store
from tests.helpers_store import ARXIV_API, SNAPSHOT, make_store

DECODE = LatexNodes2Text(math_mode="verbatim")


def snapshot() -> dict[str, Paper]:
    papers = {}
    for line in SNAPSHOT.read_text(encoding="utf-8").splitlines():
        item = arxiv_snapshot.parse_record(json.loads(line))
        assert isinstance(item, Paper)
        papers[item.id] = item
    return papers


PAPERS = snapshot()


def parse_one(text: str) -> bibtexparser.model.Entry:
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks, library.failed_blocks
    (entry,) = library.entries
    return entry


def decoded_authors(entry: bibtexparser.model.Entry) -> list[str]:
    return [DECODE.latex_to_text(a).strip() for a in entry["author"].split(" and ")]


# -- DOI and journal reference come in with the arXiv formats ------------------------------------


def test_snapshot_and_atom_records_keep_doi_and_journal_reference() -> None:
    first = PAPERS["0704.0001"]
    assert first.doi == "10.1103/PhysRevD.76.013009"
    assert first.journal_ref == "Phys.Rev.D76:013009,2007"
    # Two DOIs (the paper's, then its erratum's): the paper's own is kept.
    assert PAPERS["0704.0033"].doi == "10.1364/JOSAA.23.002578"
    assert PAPERS["0704.0033"].journal_ref.startswith("J.Opt.Soc.Am.A 23, 2578-2591 (2006);")  # type: ignore[union-attr]
    assert PAPERS["0704.0002"].doi is None and PAPERS["0704.0002"].journal_ref is None

    feed = next(ARXIV_API.glob("q_testing_*.xml")).read_bytes()
    items = [p for p in arxiv_atom.parse_bytes(feed) if isinstance(p, Paper)]
    with_doi = [p for p in items if p.doi]
    assert with_doi and all(p.doi.startswith("10.") for p in with_doi)  # type: ignore[union-attr]
    assert "10.1109/ICSTW55395.2022.00035" in {p.doi for p in with_doi}


async def test_the_store_keeps_them_and_a_source_without_them_does_not_erase_them(
    tmp_path: Path,
) -> None:
    store: Store = await make_store(tmp_path)
    try:
        await store.papers.upsert_many([PAPERS["0704.0001"]], "arxiv-snapshot")
        from_hf = Paper.create(
            title=PAPERS["0704.0001"].title, arxiv_id="0704.0001", upvotes=3, source="hf-daily"
        )
        await store.papers.upsert_many([from_hf], "hf-daily")
        stored = await store.papers.get("0704.0001")
        assert stored is not None and stored.upvotes == 3
        assert stored.doi == "10.1103/PhysRevD.76.013009"
        assert stored.journal_ref == "Phys.Rev.D76:013009,2007"
    finally:
        await store.close()
    assert merge(from_hf, PAPERS["0704.0001"]).doi == "10.1103/PhysRevD.76.013009"


def test_a_jsonl_record_may_carry_a_doi_and_a_bad_one_is_refused() -> None:
    paper = Paper.from_dict({"title": "T", "id": "2401.00001", "doi": "https://doi.org/10.1000/x"})
    assert paper.doi == "10.1000/x"
    with pytest.raises(ValueError, match="'doi' is not a DOI"):
        Paper.from_dict({"title": "T", "doi": "not a doi"})


# -- BibTeX --------------------------------------------------------------------------------------


def test_an_arxiv_preprint_is_misc_with_eprint_fields() -> None:
    paper = PAPERS["0704.0002"]
    text = cite.bibtex(paper)
    entry = parse_one(text)
    assert entry.entry_type == "misc" and entry.key == "streinu2007sparsity"
    assert entry["title"] == "Sparsity-certifying Graph Decompositions"
    assert decoded_authors(entry) == ["Ileana Streinu", "Louis Theran"]
    assert (entry["year"], entry["eprint"], entry["archivePrefix"], entry["primaryClass"]) == (
        "2007",
        "0704.0002",
        "arXiv",
        "math.CO",
    )
    assert entry["url"] == "https://arxiv.org/abs/0704.0002"
    assert "journal" not in entry.fields_dict and "doi" not in entry.fields_dict


def test_a_published_paper_has_its_journal_and_doi_and_accented_authors_in_order() -> None:
    entry = parse_one(cite.bibtex(PAPERS["0704.0001"]))
    assert entry.entry_type == "article" and entry.key == "balazs2007calculation"
    assert entry["journal"] == "Phys.Rev.D76:013009,2007"
    assert entry["doi"] == "10.1103/PhysRevD.76.013009"
    assert entry["eprint"] == "0704.0001"
    assert "{\\'a}" in entry["author"]  # Balázs, encoded for BibTeX
    assert decoded_authors(entry) == ["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C. -P. Yuan"]


def test_latex_titles_stay_latex_and_special_characters_are_encoded() -> None:
    kollar = parse_one(cite.bibtex(PAPERS["0704.0073"]))
    assert kollar["title"] == "A transcendental approach to Koll\\'ar's injectivity theorem"
    assert (
        DECODE.latex_to_text(kollar["title"])
        == "A transcendental approach to Kollár's injectivity theorem"
    )
    cusp = parse_one(cite.bibtex(PAPERS["0704.0119"]))
    assert "CeAg$_2$Ge$_2$" in cusp["title"]  # math as arXiv wrote it

    hostile = Paper.create(
        title=r"R&D at 50% of $\alpha$ – Itô #1",
        arxiv_id="2401.00001",
        authors=["Jörg Müller", "Ruth & Sons Team", "Łukasz Kaiser", "Neal J. Evans II", "李 雷"],
        published=date(2024, 1, 2),
        categories=["cs.LG"],
        journal_ref="Proc. 50% & more, {vol} 3",
    )
    entry = parse_one(cite.bibtex(hostile))
    assert entry["title"].startswith(r"R\&D at 50\% of $\alpha$")
    assert DECODE.latex_to_text(entry["title"]) == "R&D at 50% of $\\alpha$ – Itô #1"
    assert decoded_authors(entry) == [
        "Jörg Müller",
        "Ruth & Sons Team",
        "Łukasz Kaiser",
        "Evans, II, Neal J.",
        "李 雷",
    ]
    assert DECODE.latex_to_text(entry["journal"]) == "Proc. 50% & more, {vol} 3"


def test_unbalanced_braces_still_make_a_valid_file() -> None:
    broken = Paper.create(title="A {broken} title} with {braces", arxiv_id="2401.00002")
    entry = parse_one(cite.bibtex(broken))
    # Written as plain text (what members read): a brace of its own would end the field early.
    assert entry["title"] == "A broken title with braces"


def bibtex_braces_balance(value: str) -> bool:
    """BibTeX's own rule: every brace counts, escaped or not (``\\{`` opens a group too)."""
    depth = 0
    for ch in value:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def test_a_lone_brace_anywhere_leaves_every_field_balanced_for_bibtex() -> None:
    odd = Paper.create(
        title=r"The set \{x : x > 0 and its closure",
        arxiv_id="2401.00010",
        authors=["J. {Smith", "Ann } Lee"],
        journal_ref="J. Phys. A 12 (2001) 1-2 {",
        published=date(2024, 1, 10),
    )
    after = Paper.create(title="The next entry", arxiv_id="2401.00011", authors=["Bo Li"])
    text = cite.bibtex_file([odd, after])
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks and len(library.entries) == 2
    for entry in library.entries:
        for f in entry.fields:
            # An unbalanced value makes BibTeX (and biber) read past the field's end: the
            # entry, and the ones after it in the file, come out wrong or not at all.
            assert bibtex_braces_balance(f.value), (f.key, f.value)
    first = library.entries[0]
    assert DECODE.latex_to_text(first["title"]).startswith("The set")
    assert DECODE.latex_to_text(first["journal"]).startswith("J. Phys. A 12 (2001) 1-2")
    assert [a.strip() for a in DECODE.latex_to_text(first["author"]).split(" and ")] == [
        "J. Smith",
        "Ann Lee",
    ]


def test_et_al_in_an_author_list_is_not_an_author() -> None:
    for authors in (["Jane Smith", "et al."], ["Jane Smith et al."], ["Jane Smith", "others"]):
        paper = Paper.create(title="Attention tricks", arxiv_id="2401.00012", authors=authors)
        entry = parse_one(cite.bibtex(paper))
        assert entry["author"] == "Jane Smith and others", authors  # BibTeX prints "et al."
        assert entry.key == "smith2024attention", authors
        assert cite.apa(paper).startswith("Smith, J., et al. (2024). Attention tricks."), authors
    two = Paper.create(title="T", arxiv_id="2401.00013", authors=["Jane Smith", "Bo Li", "et al"])
    assert cite.apa(two).startswith("Smith, J., Li, B., et al. (2024). T.")
    assert parse_one(cite.bibtex(two))["author"] == "Jane Smith and Bo Li and others"


def test_keys_are_stable_and_deduplicated_deterministically() -> None:
    assert cite.cite_key(PAPERS["0704.0001"]) == "balazs2007calculation"
    twin = dataclasses.replace(PAPERS["0704.0001"], id="0704.9999")
    other = dataclasses.replace(PAPERS["0704.0001"], id="0704.0000")
    forward = cite.unique_keys([PAPERS["0704.0001"], twin, other])
    backward = cite.unique_keys([other, twin, PAPERS["0704.0001"]])
    assert (
        forward
        == backward
        == {
            "0704.0000": "balazs2007calculation",
            "0704.0001": "balazs2007calculationb",
            "0704.9999": "balazs2007calculationc",
        }
    )
    anonymous = Paper.create(title="On the Use of Things", arxiv_id="2312.00001")
    assert cite.cite_key(anonymous) == "anon2023use"  # no date: the id's year


def test_a_collaboration_paper_fits_a_message_with_and_others() -> None:
    authors = [f"Author{i} Person{i}" for i in range(3000)]
    paper = Paper.create(
        title="Observation of a new particle", arxiv_id="1207.7214", authors=authors
    )
    text = cite.bibtex(paper, max_chars=1500)
    assert len(text) <= 1500
    entry = parse_one(text)
    names = entry["author"].split(" and ")
    assert names[-1] == "others" and names[0] == "Author0 Person0" and len(names) > 10
    assert len(parse_one(cite.bibtex(paper))["author"].split(" and ")) == 3000


# -- APA -----------------------------------------------------------------------------------------


def test_apa_references() -> None:
    assert cite.apa(PAPERS["0704.0002"]) == (
        "Streinu, I., & Theran, L. (2007). Sparsity-certifying Graph Decompositions. arXiv. "
        "https://doi.org/10.48550/arXiv.0704.0002"
    )
    assert cite.apa(PAPERS["0704.0001"]) == (
        "Balázs, C., Berger, E. L., Nadolsky, P. M., & Yuan, C.-P. (2007). Calculation of prompt "
        "diphoton production cross sections at Tevatron and LHC energies. "
        "Phys.Rev.D76:013009,2007. https://doi.org/10.1103/PhysRevD.76.013009"
    )
    assert cite.apa(PAPERS["0704.0073"]) == (
        "Fujino, O. (2007). A transcendental approach to Kollár's injectivity theorem. arXiv. "
        "https://doi.org/10.48550/arXiv.0704.0073"
    )
    many = Paper.create(title="T", arxiv_id="2401.00003", authors=[f"A{i} B{i}" for i in range(25)])
    text = cite.apa(many)
    assert text.startswith("B0, A., B1, A.,") and ", . . . B24, A. (2024). T. arXiv." in text
    assert text.count(", A.") == 20


# -- names ----------------------------------------------------------------------------------------


def test_names_match_across_initials_diacritics_and_order() -> None:
    smith = split_name("J. Smith")
    for same in ("John Smith", "Smith, J.", "SMITH, John A.", "J Smith"):
        assert same_person(smith, split_name(same)), same
    for other in ("John Smithson", "Smith", "K. Smith", "J. Smith-Jones"):
        assert not same_person(smith, split_name(other)), other
    assert not same_person(split_name("John Smith"), split_name("Jane Smith"))
    assert same_person(split_name("Jane Smith"), split_name("J. Smith"))
    assert same_person(split_name("Lukasz Kaiser"), split_name("Łukasz Kaiser"))
    assert same_person(split_name("Balazs, C."), split_name("C. Balázs"))
    assert same_person(split_name("C.-P. Yuan"), split_name("C. -P. Yuan"))
    assert same_person(split_name("Jean-Pierre Dupont"), split_name("J.-P. Dupont"))
    assert not same_person(split_name("J.-P. Dupont"), split_name("J.-M. Dupont"))
    assert same_person(split_name("Vincent van Gogh"), split_name("van Gogh, V."))


# -- reading-list files, parsed back ----------------------------------------------------------------


def test_a_bibtex_file_of_the_whole_sample_parses_back() -> None:
    papers = list(PAPERS.values())
    library = bibtexparser.parse_string(cite.bibtex_file(papers))
    assert not library.failed_blocks
    assert len(library.entries) == len(papers) == 200
    assert len({e.key for e in library.entries}) == 200
    by_eprint = {e["eprint"]: e for e in library.entries}
    for paper in papers:
        entry = by_eprint[paper.id]
        assert len(entry["author"].split(" and ")) == len(paper.authors)
        assert ("doi" in entry.fields_dict) == (paper.doi is not None)
        assert "abstract" in entry.fields_dict


def test_ris_parses_back_with_rispy() -> None:
    papers = [PAPERS["0704.0001"], PAPERS["0704.0002"], PAPERS["0704.0012"]]
    records = rispy.loads(cite.ris_file(papers))
    assert len(records) == 3
    first, second, third = records
    assert first["type_of_reference"] == "JOUR" and second["type_of_reference"] == "UNPB"
    assert first["authors"] == ["Balázs, C.", "Berger, E. L.", "Nadolsky, P. M.", "Yuan, C. -P."]
    assert first["doi"] == "10.1103/PhysRevD.76.013009"
    assert second["doi"] == "10.48550/arXiv.0704.0002"
    assert first["year"] == "2007" and first["urls"] == ["https://arxiv.org/abs/0704.0001"]
    assert "Γ₀(N)" in third["abstract"] and "$" not in third["abstract"]  # readable text
    assert second["keywords"] == ["math.CO", "cs.CG"]


def test_csv_parses_back_and_cannot_run_formulas() -> None:
    sneaky = Paper.create(
        title='=HYPERLINK("http://evil")', arxiv_id="2401.00004", authors=["@Bob Ross"]
    )
    papers = [PAPERS["0704.0001"], PAPERS["0704.0012"], sneaky]
    made = cite.export(papers, "csv")
    assert made.filename.endswith(".csv") and made.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(made.data.decode("utf-8-sig"))))
    assert [r["id"] for r in rows] == ["0704.0001", "0704.0012", "2401.00004"]
    assert rows[0]["authors"] == "C. Balázs; E. L. Berger; P. M. Nadolsky; C. -P. Yuan"
    assert rows[0]["doi"] == "10.1103/PhysRevD.76.013009" and rows[0]["year"] == "2007"
    assert "Γ₀(N)" in rows[1]["abstract"]
    assert rows[2]["title"] == '\'=HYPERLINK("http://evil")'
    assert rows[2]["authors"] == "'@Bob Ross"


def test_export_refuses_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown export format"):
        cite.export([PAPERS["0704.0001"]], "docx")
