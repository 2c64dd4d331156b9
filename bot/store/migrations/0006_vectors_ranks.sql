-- Paper embeddings for search by meaning (bot/semantic), one per paper, made from its title and
-- the start of its abstract by the model named in meta 'vectors_model'. A paper whose text
-- changes loses its vector (PaperRepo) and gets a new one from the backfill.
CREATE TABLE paper_vectors (
    pid   INTEGER PRIMARY KEY REFERENCES papers(pid) ON DELETE CASCADE,
    seq   INTEGER NOT NULL,                     -- write order: readers catch up by "seq > last"
    vec   BLOB NOT NULL                         -- int8 x dim (each process derives its coarse
                                                -- codes from these when it loads them)
);
CREATE INDEX paper_vectors_seq ON paper_vectors(seq);

-- Which trending list a paper's source_rank comes from ('hf-page' for the trending page, one
-- per Hugging Face day or file otherwise): a newer import of the same list replaces that list's
-- ranks (PaperRepo.replace_ranks), so lists from different days never mix.
ALTER TABLE papers ADD COLUMN rank_list TEXT;
CREATE INDEX papers_rank_list ON papers(rank_list) WHERE rank_list IS NOT NULL;
