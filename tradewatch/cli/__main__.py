"""`python -m tradewatch.cli` is the `tradewatch` command."""

import sys

from tradewatch.cli.main import main

# the guard matters: worker processes started with "spawn" import this module again
if __name__ == "__main__":
    sys.exit(main())
