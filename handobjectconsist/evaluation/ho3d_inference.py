"""HO3D-v2 inference for a CodaLab submission (as upstream's evalho3dv2.py; docs/differences-from-upstream.md, K7).

    loader = ho3d_eval_loader(data_root, "test", mano_root, input_width=..., batch_size=4)
    writer = predict_submission(model, loader, device)
    writer.write(".")                      # pred.json + pred.zip

The dataset is HO3D-v2 with split_mode "paper" (the "test" split = evaluation.txt, the official evaluation set),
no augmentation, in file order (shuffle off, no dropped frames), so frame k of the submission is line k of the list.
"""

from pathlib import Path
from typing import Optional, Union

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from handobjectconsist.datasets import sample_keys as K
from handobjectconsist.datasets.build import build_eval_dataset
from handobjectconsist.datasets.collate import collate_samples
from handobjectconsist.evaluation.ho3d_submission import HO3DSubmissionWriter
from handobjectconsist.interrupts import quiet_lost_fd_connections

PAPER_SPLITS = ("train", "trainval", "val", "test")


def ho3d_eval_loader(data_root: Union[str, Path], split: str, mano_root: Optional[Union[str, Path]],
                     input_width: Optional[int] = None, batch_size: int = 4, workers: int = 0) -> DataLoader:
    """Loader over every frame of an HO3D-v2 "paper" split in list order, without augmentation.

    Args:
        data_root: the HO3D-v2 folder (train/, evaluation/, train.txt, evaluation.txt, modelsprocess/), or a folder
            holding it as ho3dv2/.
        split: train | trainval | val | test (test = evaluation.txt).
        mano_root: MANO folder (hand meshes of annotated splits).
        input_width: frame width fed to the network (None: as stored); intrinsics are scaled with the frames.
    """
    if split not in PAPER_SPLITS:
        raise ValueError(f"--val_split {split!r}: expected one of {PAPER_SPLITS} (HO3D-v2 split_mode 'paper')")
    dataset = build_eval_dataset("ho3dv2", data_root, split, mano_root, input_width, split_mode="paper")
    reader = dataset.pose_dataset
    if len(dataset) != len(reader.seq_names):
        raise RuntimeError(f"{reader.root}: the {split} dataset has {len(dataset)} items for {len(reader.seq_names)} "
                           "listed frames; every frame must be predicted once, in order")
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, drop_last=False, num_workers=workers,
                      collate_fn=collate_samples, worker_init_fn=quiet_lost_fd_connections)


def _in_list_order(loader: DataLoader) -> bool:
    """True when the dataset items are the reader's frames in order (mode full with every frame annotated)."""
    indices = getattr(loader.dataset, "indices", None)
    return indices is None or [int(i) for i in indices] == list(range(len(indices)))


@torch.no_grad()
def predict_submission(model: torch.nn.Module, loader: DataLoader, device: Union[str, torch.device] = "cpu",
                       true_root: bool = False, progress: bool = True) -> HO3DSubmissionWriter:
    """Run a MeshRegNet (eval mode) over the loader and collect recov_joints3d / recov_handverts3d.

    Args:
        model: MeshRegNet; it is put in eval mode (BatchNorm running statistics, as upstream's frozen BN).
        loader: from ho3d_eval_loader (ordered, no augmentation).
        true_root: replace the predicted wrist (joint 0) with the dataset's wrist (upstream --true_root; on the
            evaluation split that is the released root joint).
    Returns:
        The HO3DSubmissionWriter holding every frame in dataset order (call .write(out_dir)).
    """
    if not _in_list_order(loader):
        raise ValueError("predict_submission: the loader's dataset does not list the frames in file order")
    device = torch.device(device)
    model.eval()
    writer = HO3DSubmissionWriter()
    for batch in tqdm(loader, desc="ho3d inference", unit="batch", disable=not progress):
        inputs = {key: value.to(device) if torch.is_tensor(value) else value for key, value in batch.items()}
        _, results, _ = model(inputs)
        roots = batch[K.JOINTS3D][:, 0] if true_root else None
        writer.add(results["recov_joints3d"], results["recov_handverts3d"], root_joints3d=roots)
    return writer
