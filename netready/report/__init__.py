"""The report: document, canonical JSON, signing, verification and renderings."""
