"""`python -m labcli` is the `lab` command."""

import sys

from labcli.main import main

sys.exit(main())
