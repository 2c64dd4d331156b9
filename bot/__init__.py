"""PaperBot: research papers in your Discord server."""

__version__ = "0.1.0"
