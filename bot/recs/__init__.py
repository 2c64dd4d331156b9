"""For you: personal recommendations over the papers' vectors, with their reasons.

* :mod:`.model`: the member's model (numpy): a linear classifier, or a centroid of the
  member's vectors when they have few signals. Which one, and why, is measured by
  ``bench/bench_recs.py``.
* :mod:`.pool`: the candidates, i.e. the newest papers' vectors, kept in memory.
* :mod:`.explain`: the reasons of a pick: the saved paper it is closest to, and the words of
  its text that weighed most in its score.
* :mod:`.recommender`: a member's picks, the explanation of one paper, the first papers to
  rate (cold start); all in a reader thread.
* :mod:`.digest`: the daily (or weekly) DM of the top picks, exactly once.

No Discord and no SQL here (the queries are in :mod:`bot.store.recs`).
"""
