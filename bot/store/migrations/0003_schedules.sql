-- Daily trending posts: one schedule per channel, one run per channel and local day.
CREATE TABLE schedules (
    channel_id     INTEGER PRIMARY KEY,
    guild_id       INTEGER NOT NULL,
    local_time     TEXT NOT NULL,               -- HH:MM, wall-clock time in tz
    tz             TEXT NOT NULL,               -- IANA zone name
    topic          TEXT,                        -- search query the pick must match; NULL: any
    thread         INTEGER NOT NULL DEFAULT 0,  -- 1: open a discussion thread on each post
    role_id        INTEGER,                     -- role mentioned in each post; NULL: none
    next_run       TEXT NOT NULL,               -- UTC ISO instant the next post is due
    paused_reason  TEXT,                        -- why Discord refused the channel (403/404)
    exhausted_at   TEXT,                        -- when "nothing left to post" was said
    last_status    TEXT,                        -- short result of the latest run
    last_at        TEXT,
    created_by     INTEGER,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX schedules_due ON schedules(next_run) WHERE paused_reason IS NULL;
CREATE INDEX schedules_guild ON schedules(guild_id);

-- A run is one post (or one "nothing left" notice) for one channel.
-- run_key: the local date (YYYY-MM-DD) for a scheduled post, 'now:<id>' for /daily post-now.
-- state: pending -> sending -> sent | exhausted | blocked | failed | skipped.
-- 'sending' is written, with the paper and a deterministic nonce, BEFORE Discord is called;
-- verify = 1 means a message may have reached Discord: look in the channel before resending.
CREATE TABLE daily_runs (
    channel_id     INTEGER NOT NULL,
    run_key        TEXT NOT NULL,
    guild_id       INTEGER NOT NULL,
    state          TEXT NOT NULL,
    pid            INTEGER REFERENCES papers(pid) ON DELETE SET NULL,
    paper_id       TEXT,                        -- the paper's public id when it was picked
    title          TEXT,
    nonce          TEXT NOT NULL,
    verify         INTEGER NOT NULL DEFAULT 0,
    attempt_at     TEXT,                        -- when the latest send attempt started
    attempts       INTEGER NOT NULL DEFAULT 0,
    next_attempt   TEXT NOT NULL,               -- UTC ISO; also the lease expiry while owned
    deadline       TEXT NOT NULL,               -- stop retrying after this (end of the local day)
    owner          TEXT,                        -- runner instance holding the lease
    message_id     INTEGER,
    thread_id      INTEGER,
    error          TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (channel_id, run_key)
);
CREATE INDEX daily_runs_ready ON daily_runs(next_attempt) WHERE state IN ('pending', 'sending');
-- A paper is posted to a channel at most once, enforced by the database.
CREATE UNIQUE INDEX daily_runs_once ON daily_runs(channel_id, pid) WHERE pid IS NOT NULL;
