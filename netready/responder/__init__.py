"""The far end: `netready responder`."""
