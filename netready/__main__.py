"""Entry point for `python -m netready`."""

from netready.cli import main

raise SystemExit(main())
