"""netready: tells whether a site's network is ready for cloud telephony, and proves it."""

# The only place the version is written: pyproject.toml reads it (hatch dynamic version),
# the CLI, the report's `tool.version` and the responder's build_info use it, and a test
# holds the man page to it.
__version__ = "0.1.0"
