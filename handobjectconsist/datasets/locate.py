"""Where a dataset lives under --data_root."""

from pathlib import Path

DATASET_FOLDERS = {"fhbhands": "fhbhands", "ho3dv2": "ho3dv2"}
# Files or folders that identify a dataset root, for --data_root pointing at the dataset itself (any one suffices:
# an HO3D-v2 folder holding only the evaluation split has evaluation.txt but no train/).
DATASET_MARKERS = {"fhbhands": ("Hand_pose_annotation_v1",), "ho3dv2": ("train", "evaluation.txt")}


def dataset_folder(data_root, name: str) -> Path:
    """data_root/<name> (upstream layout data/fhbhands, data/ho3dv2), or data_root itself when it already is
    that dataset's folder (e.g. a synthetic set written with `python -m handobjectconsist.synth fphab --out DIR`).

    Args:
        data_root: the --data_root folder.
        name: "fhbhands" or "ho3dv2".
    """
    if name not in DATASET_FOLDERS:
        raise NotImplementedError(f"dataset {name!r} is not available in this re-implementation; "
                                  f"use one of {sorted(DATASET_FOLDERS)} or 'toy'")
    root = Path(data_root)
    nested = root / DATASET_FOLDERS[name]
    if not nested.is_dir() and any((root / marker).exists() for marker in DATASET_MARKERS[name]):
        return root
    return nested
