"""Make FPHAB's Video_files_480 from Video_files: python reduce_fphab.py --data_root DIR [--workers N] [--width 480].

Thin wrapper around handobjectconsist.datasets.reduce_fphab (see its docstring).
"""

import sys

from handobjectconsist.datasets.reduce_fphab import main

if __name__ == "__main__":
    sys.exit(main())
