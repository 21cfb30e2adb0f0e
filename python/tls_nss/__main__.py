"""python3 -m tls_nss: the package's command line (see _commandline.py)."""

from __future__ import annotations

import sys

from ._commandline import main

if __name__ == "__main__":
    sys.exit(main())
