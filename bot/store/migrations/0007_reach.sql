-- Citations (bot/cite.py): what arXiv knows about the published version of a paper.
ALTER TABLE papers ADD COLUMN doi TEXT;             -- e.g. 10.1103/PhysRevD.76.013009
ALTER TABLE papers ADD COLUMN journal_ref TEXT;     -- free text, e.g. Phys.Rev.D76:013009,2007

-- Followed authors (bot/fetch/alerts.py): an alert is a keyword query or an author's name.
-- The same text can be both, so the kind is part of what makes an alert unique.
ALTER TABLE alerts ADD COLUMN kind TEXT NOT NULL DEFAULT 'keywords';   -- 'keywords' | 'author'
DROP INDEX alerts_unique;
CREATE UNIQUE INDEX alerts_unique
    ON alerts(guild_id, user_id, COALESCE(channel_id, 0), kind, query);

-- Weekly digests (bot/schedule): a schedule posts daily (one card) or weekly (a list of the
-- week's top papers, on one weekday). A weekly run's key is its ISO week ('2026-W14').
ALTER TABLE schedules ADD COLUMN cadence TEXT NOT NULL DEFAULT 'daily';  -- 'daily' | 'weekly'
ALTER TABLE schedules ADD COLUMN weekday INTEGER;   -- weekly: 0 = Monday ... 6 = Sunday

-- The papers of a run that posts several (a weekly list), written with 'sending' before
-- Discord is called, like daily_runs.pid for a one-paper run (which stays NULL for these).
CREATE TABLE run_papers (
    channel_id  INTEGER NOT NULL,
    run_key     TEXT NOT NULL,
    position    INTEGER NOT NULL,                -- 1 = first in the list
    pid         INTEGER NOT NULL REFERENCES papers(pid) ON DELETE CASCADE,
    paper_id    TEXT NOT NULL,                   -- the paper's public id when it was picked
    title       TEXT NOT NULL,
    PRIMARY KEY (channel_id, pid),               -- in one list of a channel at most
    FOREIGN KEY (channel_id, run_key) REFERENCES daily_runs(channel_id, run_key)
        ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX run_papers_run ON run_papers(channel_id, run_key, position);

-- A paper is posted to a channel at most once, by a daily card or in a weekly list: the two
-- tables check each other.
CREATE TRIGGER run_papers_once BEFORE INSERT ON run_papers
WHEN EXISTS (SELECT 1 FROM daily_runs WHERE channel_id = NEW.channel_id AND pid = NEW.pid)
BEGIN
    SELECT RAISE(ABORT, 'paper already posted in this channel');
END;
CREATE TRIGGER daily_runs_once_in_lists BEFORE UPDATE OF pid ON daily_runs
WHEN NEW.pid IS NOT NULL AND EXISTS (
    SELECT 1 FROM run_papers WHERE channel_id = NEW.channel_id AND pid = NEW.pid
)
BEGIN
    SELECT RAISE(ABORT, 'paper already posted in this channel');
END;
