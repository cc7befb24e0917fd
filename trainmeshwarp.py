"""Fine-tuning of MeshRegNet with photometric consistency. Flags: handobjectconsist/training/trainmeshwarp.py.

Examples (upstream README), resuming a sparsely supervised trainmeshreg.py checkpoint:
    python trainmeshwarp.py --freeze_batchnorm --consist_gt_refs --workers 8 --fraction 0.00625 --resume <ckpt>
    python trainmeshwarp.py --freeze_batchnorm --consist_gt_refs --workers 8 --fraction 0.00625 --resume <ckpt> \
        --lambda_data 1 --lambda_consist 0          (control run: same schedule, no photometric term)
Multi-GPU / multi-machine:  torchrun --nproc_per_node N trainmeshwarp.py ...
                            (or python -m handobjectconsist.training.launch --nproc_per_node N trainmeshwarp.py ...: the
                            same, but Ctrl-C / SIGTERM end it with status 130 / 143 and one line, no traceback)
"""

import sys

from handobjectconsist.training.trainmeshwarp import main

if __name__ == "__main__":
    sys.exit(main())
