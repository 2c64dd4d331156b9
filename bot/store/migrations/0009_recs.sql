-- For you (bot/recs): personal recommendations. A member's profile is theirs alone, across
-- servers, so everything here is keyed by user id only. The signals are ⭐ saves (saves), 👍
-- votes in any server (votes) and 👎 "Not for me" presses (rec_dismissals).

-- One row per member who used For you: when their profile was last started over, and their
-- digest (a DM of the day's or the week's top picks at a local time).
CREATE TABLE rec_members (
    user_id            INTEGER PRIMARY KEY,
    reset_at           TEXT,                    -- /foryou reset: signals before this don't count
    digest             INTEGER NOT NULL DEFAULT 0,  -- 1: the digest is on
    cadence            TEXT NOT NULL DEFAULT 'daily',  -- 'daily' | 'weekly'
    weekday            INTEGER,                 -- weekly: 0 = Monday ... 6 = Sunday
    local_time         TEXT,                    -- HH:MM in tz
    tz                 TEXT,
    next_run           TEXT,                    -- UTC ISO: when the runner looks next
    paused_reason      TEXT,                    -- 'dms-closed': waits for /foryou digest on
    origin_channel_id  INTEGER,                 -- where the digest was turned on (told there)
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX rec_members_due ON rec_members(next_run) WHERE digest = 1 AND paused_reason IS NULL;

CREATE TABLE rec_dismissals (
    user_id     INTEGER NOT NULL,
    pid         INTEGER NOT NULL REFERENCES papers(pid) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (user_id, pid)
) WITHOUT ROWID;

-- Every paper a member was shown as a pick (a /foryou card, a digest): never picked again.
-- A digest's papers are written with its run before Discord is called, and released if the
-- digest never went out.
CREATE TABLE rec_shown (
    user_id     INTEGER NOT NULL,
    pid         INTEGER NOT NULL REFERENCES papers(pid) ON DELETE CASCADE,
    shown_at    TEXT NOT NULL,
    run_key     TEXT,                           -- the digest run it went out in (else NULL)
    position    INTEGER,                        -- its place in that digest (1 = first)
    PRIMARY KEY (user_id, pid)
) WITHOUT ROWID;
CREATE INDEX rec_shown_run ON rec_shown(user_id, run_key) WHERE run_key IS NOT NULL;

-- One digest per member and local day (or ISO week): due -> sending -> sent, like daily_runs.
CREATE TABLE rec_digest_runs (
    user_id       INTEGER NOT NULL,
    run_key       TEXT NOT NULL,                -- '2026-04-02', or '2026-W14' when weekly
    state         TEXT NOT NULL,                -- due|sending|sent|empty|blocked|failed
    nonce         TEXT NOT NULL,                -- the same for every attempt of the run
    deadline      TEXT NOT NULL,                -- the end of that local day: given up then
    next_attempt  TEXT NOT NULL,                -- also the lease while a runner holds it
    owner         TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    attempt_at    TEXT,                         -- when the latest send began
    verify        INTEGER NOT NULL DEFAULT 0,   -- 1: it may have reached Discord: look first
    message_id    INTEGER,
    error         TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (user_id, run_key)
);
CREATE INDEX rec_digest_runs_open ON rec_digest_runs(next_attempt)
    WHERE state IN ('due', 'sending');

-- A member's votes in every server (their profile), and forgetting them, by user.
CREATE INDEX votes_user ON votes(user_id);
