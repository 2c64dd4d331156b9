"""Vectors in the store: made in the background for an existing database, remade when a paper's
text changes, dropped for another model, used by related papers and the command line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.models import Paper
from bot.search import SearchEngine
from bot.semantic.backfill import fill_vectors, prepare_model, ready_meaning
from bot.semantic.keeper import VectorKeeper
from bot.semantic.model import Embedder
from bot.semantic.search import MeaningIndex
from bot.store import Store
from bot.store.loader import load_file
from tests.helpers_store import ARXIV_API, SNAPSHOT, TRENDING, snapshot_record

ROOT = Path(__file__).resolve().parent.parent
FLAKY = "2302.09330"  # Practical Flaky Test Prediction using Common Code Evolution...


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder.load()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "paperbot.db")
    await load_file(opened, TRENDING)
    await load_file(opened, SNAPSHOT)
    for atom in sorted(ARXIV_API.glob("*.xml")):
        await load_file(opened, atom)
    yield opened
    await opened.close()


async def test_an_existing_database_gets_its_vectors_while_search_goes_on(
    tmp_path: Path, embedder: Embedder
) -> None:
    # A database with papers and no vectors, as one from before vectors existed is after its
    # migration (tests/test_ops.py upgrades a version-1 database in place).
    path = tmp_path / "old.db"
    async with await Store.open(path) as old:
        await load_file(old, SNAPSHOT)
    store = await Store.open(path)
    try:
        assert await store.vectors.counts() == (0, 200)
        engine = SearchEngine(store.db)
        keeper = VectorKeeper(store)
        attached: list[MeaningIndex] = []
        keeper.start(
            lambda meaning: (attached.append(meaning), setattr(engine, "meaning", meaning))
        )
        # Search answers meanwhile, by words.
        first = await engine.search("pebble game")
        assert first.hits and first.hits[0].paper.id == "0704.0002"
        for _ in range(1200):
            if keeper.progress.complete and attached:
                break
            await asyncio.sleep(0.05)
        assert keeper.progress.complete, keeper.status
        assert await store.vectors.counts() == (200, 200)
        assert keeper.status == "on, 200 papers"
        # The keeper may be loading them in another thread right now (a second sync then
        # returns at once): give it the time it needs.
        for _ in range(200):
            await store.db.read(attached[0].sync, snapshot=False)
            if len(attached[0]) == 200:
                break
            await asyncio.sleep(0.05)
        assert len(attached[0]) == 200
        near = await engine.search("counting edges with coloured pebbles in sparse graphs")
        assert near.hits[0].paper.id == "0704.0002"
        await keeper.stop()
    finally:
        await store.close()


async def test_a_paper_whose_text_changes_gets_a_new_vector(
    store: Store, embedder: Embedder
) -> None:
    await prepare_model(store, embedder)
    await fill_vectors(store, embedder)
    pid = await store.papers.get_pid("0704.0001")
    before = await store.db.fetchval("SELECT vec FROM paper_vectors WHERE pid = ?", (pid,))
    assert before is not None
    changed = Paper(
        id="0704.0001",
        title="A completely different paper about zebrafish fins",
        abstract="Zebrafish regrow their fins.",
        source="arxiv-snapshot",  # as authoritative as what is stored: its text wins
    )
    await store.papers.upsert_many([changed], "arxiv-snapshot")
    # Its old vector (of the old text) is gone at once...
    assert await store.db.fetchval("SELECT vec FROM paper_vectors WHERE pid = ?", (pid,)) is None
    # ...and the next pass makes one for the new text.
    assert await fill_vectors(store, embedder) == 1
    after = await store.db.fetchval("SELECT vec FROM paper_vectors WHERE pid = ?", (pid,))
    assert after is not None and after != before
    # An upvote change (no text change) keeps the vector.
    await store.papers.upsert_many(
        [Paper(id="0704.0001", title=changed.title, upvotes=5, source="hf-daily")], "hf-daily"
    )
    assert await store.db.fetchval("SELECT vec FROM paper_vectors WHERE pid = ?", (pid,)) == after


async def test_vectors_of_another_model_are_rebuilt(store: Store, embedder: Embedder) -> None:
    await prepare_model(store, embedder)
    await fill_vectors(store, embedder)
    done, total = await store.vectors.counts()
    assert done == total > 0
    assert not await store.vectors.use_model(embedder.name)  # same model: nothing dropped
    assert await store.vectors.use_model("another-model-64")
    assert await store.vectors.counts() == (0, total)
    assert await store.vectors.model() == "another-model-64"


async def test_a_vector_for_a_paper_changed_meanwhile_is_not_stored(
    store: Store, embedder: Embedder
) -> None:
    await prepare_model(store, embedder)
    pending = await store.vectors.pending(0, 5)
    await store.papers.upsert_many(
        [
            Paper(id=p.id, title="Changed after it was read", source="arxiv-snapshot")
            for p in await store.papers.get_by_pids([pending[0].pid])
        ],
        "arxiv-snapshot",
    )
    vectors = embedder.embed([p.title for p in pending])
    from bot.semantic.codes import to_int8

    rows = [(p, to_int8(vectors[i : i + 1])[0].tobytes()) for i, p in enumerate(pending)]
    assert await store.vectors.store(rows) == 4  # the changed one is skipped


async def test_related_papers_are_the_nearest_in_meaning(store: Store, embedder: Embedder) -> None:
    meaning = await ready_meaning(store, embedder)
    engine = SearchEngine(store.db, meaning=meaning)
    related = await engine.related(FLAKY, limit=5)
    pid = await store.papers.get_pid(FLAKY)
    assert pid is not None
    nearest = await store.db.read(lambda conn: meaning.neighbours(conn, pid, 5))
    assert [p.id for p in related] == [
        p.id for p in await store.papers.get_by_pids([q for q, _ in nearest])
    ]
    assert FLAKY not in {p.id for p in related}
    # About the same thing: the other flaky-test papers of the sample are the closest.
    assert sum("flak" in p.title.lower() for p in related[:3]) >= 2


def test_load_on_the_command_line_makes_the_vectors(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "DISCORD_"))}
    env.update(PAPERBOT_DATABASE=str(tmp_path / "db" / "p.db"), PAPERBOT_DATA_DIR=str(tmp_path))
    (tmp_path / "empty.env").touch()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "--env-file",
            str(tmp_path / "empty.env"),
            "load",
            str(SNAPSHOT),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "vectors: 200 made; 200 of 200 papers can be found by meaning" in run.stdout
    found = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "--env-file",
            str(tmp_path / "empty.env"),
            "search",
            "counting edges with coloured pebbles in sparse graphs",
            "--limit",
            "1",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert found.returncode == 0, found.stderr
    assert "pebble game" in found.stdout.lower()


async def test_vectors_made_in_worker_processes_are_the_same(
    tmp_path: Path, embedder: Embedder
) -> None:
    # `python -m bot load` embeds in one process per core: the vectors must be exactly those
    # one thread makes.
    stores = []
    for name in ("thread", "processes"):
        opened = await Store.open(tmp_path / f"{name}.db")
        await load_file(opened, SNAPSHOT)
        await prepare_model(opened, embedder)
        stores.append(opened)
    try:
        one = await fill_vectors(stores[0], embedder)
        two = await fill_vectors(stores[1], embedder, workers=2, batch=64)
        assert one == two == 200
        rows = [
            await s.db.fetchall("SELECT p.id, v.vec FROM paper_vectors v JOIN papers p USING (pid)")
            for s in stores
        ]
        assert sorted(map(tuple, rows[0])) == sorted(map(tuple, rows[1]))
    finally:
        for opened in stores:
            await opened.close()


async def test_search_by_meaning_finds_a_paper_added_after_a_deletion(tmp_path: Path) -> None:
    from bot.semantic.backfill import fill_vectors, prepare_model
    from bot.semantic.model import Embedder
    from bot.semantic.search import MeaningIndex
    from bot.store.loader import load_file
    from tests.helpers_store import write_jsonl

    topics = [
        ("Graph neural networks for molecules", "Message passing over atoms and bonds."),
        ("Speech recognition with transformers", "Audio to text with attention."),
        ("Reinforcement learning for robot arms", "Policies that grasp objects."),
        ("Protein folding with deep learning", "Predicting structures of proteins."),
    ]
    records = [snapshot_record(n, t, a) for n, (t, a) in enumerate(topics, start=1)]
    store = await Store.open(tmp_path / "p.db")
    try:
        await load_file(store, write_jsonl(tmp_path / "p.jsonl", records))
        embedder = Embedder.load()
        await prepare_model(store, embedder)
        assert await fill_vectors(store, embedder) == 4
        meaning = MeaningIndex(embedder, min_similarity=0.0)
        await store.db.read(meaning.sync, snapshot=False)  # as the keeper does
        assert len(meaning) == 4
        # The newest paper is withdrawn (deleted by a refresh), then a new one arrives.
        assert await store.papers.delete("2401.00004")
        new = Paper.create(
            title="Coral reef bleaching under ocean heat waves",
            abstract="Corals lose their algae when the sea warms.",
            arxiv_id="2402.00001",
        )
        await store.papers.upsert_many([new], "jsonl")
        assert await fill_vectors(store, embedder) == 1
        await store.db.read(meaning.sync, snapshot=False)  # the keeper's next pass
        near = await store.db.read(
            lambda conn: meaning.search(conn, "coral reefs bleaching in warm seas", 1)
        )
        pid = await store.papers.get_pid("2402.00001")
        assert [p for p, _ in near] == [pid]
    finally:
        await store.close()


async def test_deleted_papers_leave_the_meaning_index(store: Store, embedder: Embedder) -> None:
    # A refresh withdraws (deletes) most of the papers nearest to a topic; search by meaning
    # must still answer the live papers nearest to it, as many as asked for.
    meaning = await ready_meaning(store, embedder)
    meaning.min_similarity = -1.0  # every paper counts as near: the answers' count is exact
    total = len(meaning)
    assert total == (await store.vectors.counts())[0] > 210
    text = "deep neural networks for image recognition"
    ranked = await store.db.read(lambda conn: meaning.search(conn, text, total))
    pids = [p for p, _ in ranked]
    gone = pids[:200]
    ids = {p.id for p in await store.papers.get_by_pids(gone)}
    for paper_id in ids:
        assert await store.papers.delete(paper_id)
    await store.db.read(meaning.sync, snapshot=False)  # the keeper's next pass
    near = await store.db.read(lambda conn: meaning.search(conn, text, 10))
    assert [p for p, _ in near] == pids[200:210]
    assert len(meaning) == total - 200
    # A paper whose text changed has no vector until the backfill makes one: not found
    # meanwhile; then found by its new text.
    paper = (await store.papers.get_by_pids([pids[200]]))[0]
    changed = Paper(
        id=paper.id,
        title="Zebrafish fin regeneration",
        abstract="Zebrafish regrow their fins.",
        source="arxiv-snapshot",
    )
    await store.papers.upsert_many([changed], "arxiv-snapshot")
    await store.db.read(meaning.sync, snapshot=False)
    assert len(meaning) == total - 201
    assert await fill_vectors(store, embedder) == 1
    await store.db.read(meaning.sync, snapshot=False)
    assert len(meaning) == total - 200
    fins = await store.db.read(lambda conn: meaning.search(conn, "zebrafish fins regrow", 1))
    assert [p for p, _ in fins] == [pids[200]]


async def test_the_meaning_index_catches_up_after_the_deletion_log_is_trimmed(
    store: Store, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.store import vectors as vx

    meaning = await ready_meaning(store, embedder)
    total = len(meaning)
    monkeypatch.setattr(vx, "GONE_KEEP", 2)
    pids = [p for (p,) in await store.db.fetchall("SELECT pid FROM paper_vectors LIMIT 5")]
    for paper in await store.papers.get_by_pids(pids):
        assert await store.papers.delete(paper.id)
    # The backfill trims the log to its last entries (here 2) when it stores vectors.
    await store.papers.upsert_many(
        [Paper.create(title="A new paper", arxiv_id="2601.00001")], "jsonl"
    )
    assert await fill_vectors(store, embedder) == 1
    assert await store.db.fetchval("SELECT count(*) FROM vectors_gone") == 2
    await store.db.read(meaning.sync, snapshot=False)
    assert len(meaning) == total - 5 + 1
    # Vectors of another model: all gone at once, the log emptied.
    assert await store.vectors.use_model("another-model-64")
    await store.db.read(meaning.sync, snapshot=False)
    assert len(meaning) == 0
