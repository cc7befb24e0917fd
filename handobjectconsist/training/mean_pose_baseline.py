"""Evaluate the mean-pose baseline (evaluation.baselines) on trainmeshreg's datasets; prints the metrics as JSON.

    python -m handobjectconsist.training.mean_pose_baseline --data_root DIR --mano_root DIR [--input_width W]
           [--train_datasets fhbhands] [--val_dataset fhbhands] [--val_split test]

Accepts every trainmeshreg.py flag; the means are taken over the annotated frames of the first
--train_datasets/--train_splits pair (at --fraction), the evaluation runs on every frame of --val_split.
"""

import json
import sys
from typing import Optional

from torch.utils.data import DataLoader

from handobjectconsist.datasets.collate import collate_samples
from handobjectconsist.evaluation.baselines import evaluate_baseline
from handobjectconsist.training.data import build_dataset
from handobjectconsist.training.options import trainmeshreg_parser


def main(argv: Optional[list] = None) -> int:
    args = trainmeshreg_parser().parse_args(argv)
    train = build_dataset(args, args.train_datasets[0], args.train_splits[0], "strong", False, args.fraction)
    val = build_dataset(args, args.val_dataset, args.val_split, "full", False, 1.0)

    def loader(dataset):
        return DataLoader(dataset, batch_size=16, num_workers=args.workers or 0, collate_fn=collate_samples)

    print(json.dumps(evaluate_baseline(loader(train), loader(val), args.center_idx), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
