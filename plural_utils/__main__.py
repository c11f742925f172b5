"""``python -m plural_utils``: see :mod:`plural_utils.cli`."""

import sys

from plural_utils.cli import main

sys.exit(main())
