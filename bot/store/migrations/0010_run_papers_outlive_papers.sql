-- A weekly list's papers stay recorded when a paper leaves the store (an import undone, a
-- withdrawal): they are the channel's history, and a paper loaded again (under a new pid, as
-- pids only grow) must still count as posted there (matched by its public id). 0007 deleted
-- them with the paper (pid ... ON DELETE CASCADE); the table is rebuilt without that.
CREATE TABLE run_papers_new (
    channel_id  INTEGER NOT NULL,
    run_key     TEXT NOT NULL,
    position    INTEGER NOT NULL,                -- 1 = first in the list
    pid         INTEGER NOT NULL,                -- papers.pid when picked (it may be gone)
    paper_id    TEXT NOT NULL,                   -- the paper's public id when it was picked
    title       TEXT NOT NULL,
    PRIMARY KEY (channel_id, pid),               -- in one list of a channel at most
    FOREIGN KEY (channel_id, run_key) REFERENCES daily_runs(channel_id, run_key)
        ON DELETE CASCADE
) WITHOUT ROWID;
INSERT INTO run_papers_new (channel_id, run_key, position, pid, paper_id, title)
    SELECT channel_id, run_key, position, pid, paper_id, title FROM run_papers;
DROP TRIGGER daily_runs_once_in_lists;
DROP TABLE run_papers;
ALTER TABLE run_papers_new RENAME TO run_papers;
CREATE INDEX run_papers_run ON run_papers(channel_id, run_key, position);
CREATE INDEX run_papers_paper ON run_papers(channel_id, paper_id);
-- Posted papers are also looked up by public id (ScheduleRepo.posted_pids, the pool queries).
CREATE INDEX daily_runs_paper ON daily_runs(channel_id, paper_id);

-- As in 0007: a paper is posted to a channel at most once, by a daily card or in a list.
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
