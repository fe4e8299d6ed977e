"""``python -m telemetry``: the command line, as the ``telemetry`` script.

The guard matters: Dask's local worker processes re-import the main module (as ``__mp_main__``).
"""

from __future__ import annotations

import sys

from telemetry.cli import main

if __name__ == "__main__":
    sys.exit(main())
