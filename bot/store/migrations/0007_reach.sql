-- Citations (bot/cite.py): what arXiv knows about the published version of a paper.
ALTER TABLE papers ADD COLUMN doi TEXT;             -- e.g. 10.1103/PhysRevD.76.013009
ALTER TABLE papers ADD COLUMN journal_ref TEXT;     -- free text, e.g. Phys.Rev.D76:013009,2007

-- Followed authors (bot/fetch/alerts.py): an alert is a keyword query or an author's name.
-- The same text can be both, so the kind is part of what makes an alert unique.
ALTER TABLE alerts ADD COLUMN kind TEXT NOT NULL DEFAULT 'keywords';   -- 'keywords' | 'author'
DROP INDEX alerts_unique;
CREATE UNIQUE INDEX alerts_unique
    ON alerts(guild_id, user_id, COALESCE(channel_id, 0), kind, query);
