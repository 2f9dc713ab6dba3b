"""``python -m serving.cli``: the `genlift` command."""

import sys

from serving.cli.main import main

sys.exit(main())
