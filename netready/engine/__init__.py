"""The engine: runner, events, pacing and statistics."""
