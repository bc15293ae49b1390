"""`python -m hub`: the `hub` command, where its script is not on the PATH."""

import sys

from hub.cli import main

sys.exit(main())
