"""Inputs of the experiment: the MANO folder, the synthetic FPHAB set (generated when missing), frame counts."""

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Dict

import numpy as np

from handobjectconsist.datasets.sparse import annotated_positions, fphab_spacing

FPHAB_MARKER = "Hand_pose_annotation_v1"


def ensure_mano(mano_root) -> Path:
    """mano_root with MANO_RIGHT.pkl; writes the synthetic MANO-format hand (seed 0) there when it has none."""
    root = Path(mano_root)
    if not (root / "MANO_RIGHT.pkl").is_file():
        from handobjectconsist.synth.mano_hand import write_synthetic_mano

        print(f"[data] no MANO_RIGHT.pkl in {root}: writing the synthetic MANO-format hand (seed 0) there")
        write_synthetic_mano(root, seed=0)
    return root


def dataset_dir(data_root) -> Path:
    """The FPHAB folder: data_root itself when it holds Hand_pose_annotation_v1/, else data_root/fhbhands."""
    root = Path(data_root)
    return root if (root / FPHAB_MARKER).is_dir() else root / "fhbhands"


def ensure_fphab(data_root, mano_root, preset: str, seed: int = 0, workers: int = 1) -> Path:
    """Dataset folder (see dataset_dir); a missing one is generated with handobjectconsist.synth.fphab.write_fphab.

    Generation goes to <folder>.partial and is renamed at the end, so an interrupted generation is redone from
    scratch instead of leaving a half-written set that looks complete.
    """
    folder = dataset_dir(data_root)
    if folder.is_dir():
        _check_preset(folder, preset)
        return folder
    from handobjectconsist.synth.fphab import write_fphab

    partial = folder.with_name(folder.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    print(f"[data] generating the synthetic FPHAB set (preset {preset}, seed {seed}) in {folder}")
    write_fphab(partial, mano_root=mano_root, preset=preset, seed=seed, workers=workers)
    os.replace(partial, folder)
    return folder


def _check_preset(folder: Path, preset: str) -> None:
    meta_path = folder / "hoc_synth.json"
    if not meta_path.is_file():
        return  # a real FPHAB folder (or one generated elsewhere): used as it is
    found = json.loads(meta_path.read_text()).get("preset")
    if found != preset:
        print(f"[data] note: {folder} holds the synthetic preset {found!r}, not --preset {preset!r}; using it as is "
              f"(delete the folder or pass another --data_root to generate {preset!r})")


def training_data_root(folder: Path, link_dir: Path) -> Path:
    """A folder whose fhbhands/ is the dataset (what trainmeshwarp.py expects under --data_root)."""
    if folder.name == "fhbhands":
        return folder.parent
    link = Path(link_dir) / "fhbhands"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(folder.resolve(), target_is_directory=True)
    return link.parent


def annotated_count(lengths, fraction: float) -> int:
    """Annotated frames in sequences of these lengths at this fraction (the FPHAB reader's rule, sparse.py)."""
    spacing = fphab_spacing(fraction)
    return int(sum(len(annotated_positions(int(n), spacing)) for n in lengths))


def counts_from_dataset(folder: Path) -> Dict[str, list]:
    """{"train": [sequence lengths], "test": [...]} read with the FPHAB reader."""
    from handobjectconsist.datasets import FPHAB

    out = {}
    for split in ("train", "test"):
        names = FPHAB(folder, split=split).seq_names
        _, lengths = np.unique(np.asarray(names), return_counts=True)
        out[split] = [int(n) for n in lengths]
    return out


def counts_from_preset(preset: str) -> Dict[str, list]:
    """{"train": [sequence lengths], "test": [...]} of a synthetic preset, without generating it."""
    from handobjectconsist.synth.fphab import plan

    _, seqs = plan(preset)
    return {split: [s.n_frames for s in seqs if s.split == split] for split in ("train", "test")}


def dataset_id(folder: Path, mano_root: Path) -> str:
    """A path-independent name of the data a run trains on: the synthetic set's preset and seed (from its
    hoc_synth.json; else the folder name) and the SHA-1 of the MANO_RIGHT.pkl used."""
    meta_path = Path(folder) / "hoc_synth.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        data = f"synthetic-fphab-{meta.get('preset')}-seed{meta.get('seed')}"
    else:
        data = f"fphab-{Path(folder).resolve().name}"
    mano = hashlib.sha1((Path(mano_root) / "MANO_RIGHT.pkl").read_bytes()).hexdigest()[:12]
    return f"{data}/mano-{mano}"
