"""`python -m edgewatch`: the command line, as the `edgewatch` script."""

import sys

from edgewatch.cli import main

sys.exit(main())
