"""Supervised training / evaluation of MeshRegNet. Flags: handobjectconsist/training/options.py.

Examples (upstream README): python trainmeshreg.py --freeze_batchnorm --workers 8 --block_rot
                            python trainmeshreg.py --freeze_batchnorm --workers 8 --fraction 0.00625 --eval_freq 50
Multi-GPU / multi-machine:  torchrun --nproc_per_node N trainmeshreg.py ...
                            (or python -m handobjectconsist.training.launch --nproc_per_node N trainmeshreg.py ...: the
                            same, but Ctrl-C / SIGTERM end it with status 130 / 143 and one line, no traceback)
"""

import sys

from handobjectconsist.training.trainmeshreg import main

if __name__ == "__main__":
    sys.exit(main())
