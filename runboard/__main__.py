"""`python -m runboard ...`: the same as the `runboard` command (serve starts its worker so)."""

from __future__ import annotations

import sys

from runboard.cli.main import main

sys.exit(main())
