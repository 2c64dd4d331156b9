-- Vectors deleted (their paper deleted, its text changed, vectors of another model dropped), in
-- order: a process that holds vectors in memory (bot/semantic/search.py, MeaningIndex.sync)
-- reads the entries after the last it saw and forgets those papers, unless they have a vector
-- again. Only the last entries are kept (VectorRepo.store trims the log); a process that fell
-- further behind compares its papers with paper_vectors instead.
CREATE TABLE vectors_gone (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,     -- never reused: readers catch up by "id > last"
    pid  INTEGER NOT NULL
);
CREATE TRIGGER paper_vectors_gone AFTER DELETE ON paper_vectors
BEGIN
    INSERT INTO vectors_gone(pid) VALUES (OLD.pid);
END;
