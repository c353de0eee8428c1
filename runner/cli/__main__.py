"""`python -m runner.cli`: the same as the `jobdeck` command."""

import sys

from runner.cli.main import main

sys.exit(main())
