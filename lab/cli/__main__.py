"""`python -m lab.cli` is the `lab` command."""

import sys

from lab.cli.main import main

sys.exit(main())
