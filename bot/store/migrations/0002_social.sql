-- Members' votes (counted in trending, per server) and reading lists.
CREATE TABLE votes (
    guild_id    INTEGER NOT NULL,               -- 0 for votes cast in DMs
    user_id     INTEGER NOT NULL,
    pid         INTEGER NOT NULL REFERENCES papers(pid) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (guild_id, user_id, pid)
);
CREATE INDEX votes_pid ON votes(pid, guild_id);

CREATE TABLE saves (
    user_id     INTEGER NOT NULL,
    pid         INTEGER NOT NULL REFERENCES papers(pid) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (user_id, pid)
);
