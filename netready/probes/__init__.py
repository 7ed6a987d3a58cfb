"""Measurement primitives: codecs and thin socket shells, no thresholds."""
