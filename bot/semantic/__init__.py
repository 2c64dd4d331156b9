"""Search by meaning: paper text → vector (:mod:`.model`), compact codes (:mod:`.codes`) and
an in-memory nearest-neighbour index over them (:mod:`.index`). No SQL and no Discord here."""
