"""``python -m hub.cli``: the same command line as the ``hub`` entry point."""

import sys

from hub.cli.main import main

sys.exit(main())
