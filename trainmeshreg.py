"""Supervised training / evaluation of MeshRegNet. Flags: handobjectconsist/training/options.py.

Examples (upstream README): python trainmeshreg.py --freeze_batchnorm --workers 8 --block_rot
                            python trainmeshreg.py --freeze_batchnorm --workers 8 --fraction 0.00625 --eval_freq 50
Multi-GPU / multi-machine:  torchrun --nproc_per_node N trainmeshreg.py ...
"""

import sys

from handobjectconsist.training.trainmeshreg import main

if __name__ == "__main__":
    sys.exit(main())
