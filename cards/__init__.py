"""Dataset-card templates and statistics."""
