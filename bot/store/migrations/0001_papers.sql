-- Papers, where they came from, and which files have been imported.
CREATE TABLE papers (
    pid          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,          -- arXiv id without version, or a title id (t-...)
    title_key    TEXT NOT NULL,                 -- normalised title, to recognise the same paper
    title_hash   INTEGER,                       -- 64-bit hash of title_key: a compact index key
    title        TEXT NOT NULL,
    abstract     TEXT NOT NULL DEFAULT '',
    authors      TEXT NOT NULL DEFAULT '[]',    -- JSON array of names
    published    TEXT,                          -- ISO date, NULL when the source gives none
    categories   TEXT NOT NULL DEFAULT '',      -- space separated, primary first
    url_abs      TEXT,
    url_pdf      TEXT,
    url_code     TEXT,
    url_project  TEXT,
    url_hf       TEXT,
    source       TEXT NOT NULL,                 -- the most authoritative source seen
    source_rank  INTEGER,                       -- position on a trending list (1 = top)
    upvotes      INTEGER,
    ai_summary   TEXT,
    ai_keywords  TEXT NOT NULL DEFAULT '[]',    -- JSON array
    added_at     TEXT NOT NULL,                 -- UTC ISO timestamp of the first import
    updated_at   TEXT NOT NULL
);
-- Papers by title (hash of title_key): a text index here cost ~12 us a paper on a bulk load.
CREATE INDEX papers_title_hash ON papers(title_hash);
CREATE INDEX papers_published ON papers(published);
CREATE INDEX papers_source_rank ON papers(source_rank) WHERE source_rank IS NOT NULL;
-- Trending candidates by upvotes (few papers have them; the index stays small).
CREATE INDEX papers_upvotes ON papers(upvotes) WHERE upvotes IS NOT NULL;
-- Title-only papers (t- ids) by title, probed for every incoming record that has an id: tiny.
CREATE INDEX papers_title_only ON papers(title_key) WHERE id LIKE 't-%';

-- Former ids of a paper (a title id replaced by the arXiv id), so old links still resolve.
CREATE TABLE paper_aliases (
    alias   TEXT PRIMARY KEY,
    pid     INTEGER NOT NULL REFERENCES papers(pid) ON DELETE CASCADE
);
CREATE INDEX paper_aliases_pid ON paper_aliases(pid);

CREATE TABLE paper_sources (
    pid     INTEGER NOT NULL REFERENCES papers(pid) ON DELETE CASCADE,
    source  TEXT NOT NULL,
    PRIMARY KEY (pid, source)
) WITHOUT ROWID;
CREATE INDEX paper_sources_source ON paper_sources(source);

CREATE TABLE imported_files (
    path         TEXT PRIMARY KEY,              -- resolved path
    size         INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    format       TEXT NOT NULL,
    imported_at  TEXT NOT NULL,
    papers       INTEGER NOT NULL,
    rejected     INTEGER NOT NULL
);

CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

CREATE VIRTUAL TABLE papers_fts USING fts5(
    title, authors, abstract,
    content='papers', content_rowid='pid',
    tokenize='unicode61 remove_diacritics 2',
    detail=column
);

-- Search (bot/search, SQL in bot/store/search_index.py). papers_fts above: ranking needs to
-- know which column holds a term (detail=column), not where (no positions: smaller, faster);
-- the query side never emits phrases. papers_title_fts: the titles alone, presence only
-- (detail=none) - autocomplete, the "all words in the title" tier of common-word searches,
-- and, through papers_title_vocab, the word list for spelling correction and completion.
-- PaperRepo keeps every FTS table with content='papers' in sync.
CREATE VIRTUAL TABLE papers_title_fts USING fts5(
    title,
    content='papers', content_rowid='pid',
    tokenize='unicode61 remove_diacritics 2',
    detail=none
);
CREATE VIRTUAL TABLE papers_title_vocab USING fts5vocab(papers_title_fts, 'row');
