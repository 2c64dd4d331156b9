-- Papers, where they came from, and which files have been imported.
CREATE TABLE papers (
    pid          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,          -- arXiv id without version, or a title id (t-...)
    title_key    TEXT NOT NULL,                 -- normalised title, to recognise the same paper
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
CREATE INDEX papers_title_key ON papers(title_key);
CREATE INDEX papers_published ON papers(published);
CREATE INDEX papers_source_rank ON papers(source_rank) WHERE source_rank IS NOT NULL;

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
