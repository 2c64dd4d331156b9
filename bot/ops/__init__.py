"""Operating PaperBot: ``doctor`` (is everything in place?) and ``backup``."""
