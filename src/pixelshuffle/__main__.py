"""``python -m pixelshuffle``: the same program as the ``pixelshuffle`` command."""

import sys

from ._cli import main

sys.exit(main())
