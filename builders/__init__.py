"""Release builders and the code both pipelines share (data model, normalisers, LLM access)."""

__version__ = "0.1.0"
