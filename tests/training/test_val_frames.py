"""--val_frames unannotated: the validation loader holds exactly the training frames that --fraction leaves
unannotated (the frames trainmeshwarp's photometric loss is applied to), never an annotated one."""

from handobjectconsist.datasets import FPHAB
from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.training.data import build_val_loader
from handobjectconsist.training.distributed import DistContext
from handobjectconsist.training.options import trainmeshreg_parser


def test_unannotated_validation_frames_are_the_complement_of_the_annotated_ones(fphab_tiny_root, mano_root):
    args = trainmeshreg_parser().parse_args(
        ["--data_root", str(fphab_tiny_root), "--mano_root", str(mano_root), "--val_split", "train",
         "--val_frames", "unannotated", "--fraction", "0.2", "--input_width", "48", "--batch_size", "4"])
    loader = build_val_loader(args, DistContext())
    reader = FPHAB(fphab_tiny_root, split="train", fraction=0.2)
    annotated = {(s, int(f)) for s, f, a in zip(reader.seq_names, reader.frame_ids, reader.sparse_map.annotated) if a}
    seen = set()
    for batch in loader:
        assert not batch[K.ANNOTATED].any()
        seen |= {(s, int(f)) for s, f in zip(batch[K.SEQ_NAME], batch[K.FRAME_IDX])}
    every = {(s, int(f)) for s, f in zip(reader.seq_names, reader.frame_ids)}
    assert annotated and seen == every - annotated
