"""The ITC pipeline: real-API catalog, single / repeated / parallel / nested tasks, API-level split."""
