"""The ToolMind pipeline: function pool, function graph, multi-agent simulation, filtering, turn-split samples."""
