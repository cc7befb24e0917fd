"""python -m handobjectconsist.predict ... (see handobjectconsist.predict.cli)."""

import sys

from handobjectconsist.predict.cli import main

sys.exit(main())
