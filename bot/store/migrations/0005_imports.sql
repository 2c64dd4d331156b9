-- Imports in progress (bot/store/imports.py). A file is stored in batches, each committed, so
-- the bot's own writes get in between; until the file has been read to the end, what it
-- changed is journaled here, and a failure (or a crash: see heartbeat_at) undoes it.
CREATE TABLE imports (
    id            INTEGER PRIMARY KEY,
    path          TEXT NOT NULL,
    owner         TEXT NOT NULL,                -- host:pid:token of the importing process
    started_at    TEXT NOT NULL,                -- UTC ISO timestamps
    heartbeat_at  TEXT NOT NULL
);

-- Papers an import inserted, as pid ranges: one per batch (a batch allocates its pids in one
-- transaction, so no other writer's paper falls inside a range).
CREATE TABLE import_new (
    import_id  INTEGER NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    first_pid  INTEGER NOT NULL,
    last_pid   INTEGER NOT NULL,
    PRIMARY KEY (import_id, first_pid)
) WITHOUT ROWID;

-- Stored papers an import changed, with what to put back.
CREATE TABLE import_undo (
    import_id     INTEGER NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    pid           INTEGER NOT NULL,
    old_row       TEXT,                         -- JSON: the row before; NULL: not changed
    written_at    TEXT NOT NULL,                -- updated_at the import wrote (restore only then)
    added_source  TEXT,                         -- a paper_sources row the import added
    added_alias   TEXT,                         -- a paper_aliases row the import added
    PRIMARY KEY (import_id, pid)
) WITHOUT ROWID;
