-- Citations (bot/cite.py): what arXiv knows about the published version of a paper.
ALTER TABLE papers ADD COLUMN doi TEXT;             -- e.g. 10.1103/PhysRevD.76.013009
ALTER TABLE papers ADD COLUMN journal_ref TEXT;     -- free text, e.g. Phys.Rev.D76:013009,2007
