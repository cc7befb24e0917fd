"""Write a minimal FPHAB-layout folder by hand (independent of the synthetic generator) for reader tests."""

from pathlib import Path

import numpy as np
import trimesh
from PIL import Image


def write_hand_made_fphab(root: Path, frames_per_seq=(3, 2), width=480, height=270, seed=0):
    """Two sequences (open_milk/1 train, put_salt/1 test) with random skeletons/poses; returns the truth."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    seqs = ["Subject_1/open_milk/1", "Subject_2/put_salt/1"]
    (root / "data_split_action_recognition.txt").write_text(
        f"Training 2\n{seqs[0]} 3\nSubject_1/charge_cell_phone/1 0\nTest 1\n{seqs[1]} 9\n")
    for name in ("milk", "salt"):
        box = trimesh.creation.box(extents=(0.05, 0.06, 0.1))
        box.vertices += [0.01, 0.0, 0.02]
        folder = root / "Object_models" / f"{name}_model"
        folder.mkdir(parents=True)
        box.export(folder / f"{name}_model.ply")
    truth = {}
    for seq, n in zip(seqs, frames_per_seq):
        skel = rng.uniform([-50, -50, 400], [50, 50, 600], size=(n, 21, 3))
        poses = []
        for _ in range(n):
            pose = np.eye(4)
            angle = rng.uniform(0, np.pi)
            pose[:3, :3] = [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
            pose[:3, 3] = rng.uniform([-30, -30, 450], [30, 30, 550])
            poses.append(pose)
        for sub, fname, rows in (("Hand_pose_annotation_v1", "skeleton.txt", [s.reshape(-1) for s in skel]),
                                 ("Object_6D_pose_annotation_v1_1", "object_pose.txt",
                                  [p.T.reshape(-1) for p in poses])):
            folder = root / sub / seq
            folder.mkdir(parents=True)
            (folder / fname).write_text("".join(f"{t} " + " ".join(f"{v:.6f}" for v in row) + "\n"
                                                for t, row in enumerate(rows)))
        color = root / "Video_files_480" / seq / "color"
        color.mkdir(parents=True)
        for t in range(n):
            frame = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
            Image.fromarray(frame).save(color / f"color_{t:04d}.jpeg")
        truth[seq] = (skel, np.array(poses))
    return truth
