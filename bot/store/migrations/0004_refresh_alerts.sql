-- Live refresh (bot/fetch): where each source left off, and HTTP validators per URL.
CREATE TABLE refresh_state (
    source           TEXT PRIMARY KEY,          -- 'hf', 'arxiv'
    cursor           TEXT,                      -- last day (YYYY-MM-DD, UTC) fully imported
    last_run_at      TEXT,                      -- UTC ISO timestamps
    last_success_at  TEXT,
    last_error       TEXT,                      -- NULL after a clean run
    last_new         INTEGER NOT NULL DEFAULT 0,
    last_updated     INTEGER NOT NULL DEFAULT 0,
    last_failed      INTEGER NOT NULL DEFAULT 0,
    running_until    TEXT,                      -- a run's lease (one process at a time)...
    running_owner    TEXT                       -- ...and who holds it
);

CREATE TABLE http_cache (
    url            TEXT PRIMARY KEY,            -- full request URL, query string included
    etag           TEXT,
    last_modified  TEXT,
    items          INTEGER,                     -- records the last 200 answer held (paging)
    checked_at     TEXT NOT NULL
);

-- Keyword alerts: a member (or, for a channel alert, an admin) subscribes to a search query.
CREATE TABLE alerts (
    id                 INTEGER PRIMARY KEY,
    guild_id           INTEGER NOT NULL,
    user_id            INTEGER NOT NULL,        -- who created it (the DM recipient)
    channel_id         INTEGER,                 -- channel alert: post there; NULL: DM the member
    origin_channel_id  INTEGER NOT NULL,        -- where it was created (told there if DMs fail)
    query              TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    paused_at          TEXT,                    -- NULL while active
    paused_reason      TEXT,
    last_pid           INTEGER NOT NULL DEFAULT 0   -- papers with pid above this not yet checked
);
CREATE UNIQUE INDEX alerts_unique ON alerts(guild_id, user_id, COALESCE(channel_id, 0), query);
CREATE INDEX alerts_user ON alerts(user_id);

-- Every paper sent to a recipient, so nobody gets the same paper twice (and the daily cap).
CREATE TABLE alert_deliveries (
    kind          TEXT NOT NULL,                -- 'user' (a DM) or 'channel'
    target_id     INTEGER NOT NULL,             -- user id or channel id
    pid           INTEGER NOT NULL REFERENCES papers(pid) ON DELETE CASCADE,
    alert_id      INTEGER,                      -- informational; the alert may be gone since
    delivered_at  TEXT NOT NULL,                -- UTC ISO timestamp
    PRIMARY KEY (kind, target_id, pid)
) WITHOUT ROWID;
CREATE INDEX alert_deliveries_day ON alert_deliveries(kind, target_id, delivered_at);
