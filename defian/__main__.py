"""``python -m defian ...``: the ``defian`` command (:mod:`defian.cli`) without the console script."""

from __future__ import annotations

import sys

from defian.cli import main

if __name__ == "__main__":
    sys.exit(main())
