"""`python -m tradewatch.cli` is the `tradewatch` command."""

import sys

from tradewatch.cli.main import main

sys.exit(main())
