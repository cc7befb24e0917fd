"""The object model of the predict command: a mesh file, or a training object looked up by name.

The network predicts a rotation, scale and translation that pose the object's canonical vertices in the camera
frame; like the datasets (sample_keys.OBJ_CAN_VERTS), the canonical vertices are the model's vertices centred on
their bounding-box centre. A mesh file is read without merging or reordering vertices (datasets.meshes.load_mesh),
so the exported object mesh has the file's vertex order. Names: the objects of the checkpoint's training sets,
FPHAB (juice_bottle, liquid_soap, milk, salt; Object_models/<stem>_model/<stem>_model.ply) and HO3D-v2 (the YCB
names of modelsprocess/<name>/textured_simple_2000.obj, in the OpenGL model frame, turned to OpenCV axes as the
HO3D-v2 reader does).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from handobjectconsist.datasets import fphab, ho3dv2
from handobjectconsist.datasets.errors import AnnotationFormatError, MissingDataError
from handobjectconsist.datasets.locate import dataset_folder
from handobjectconsist.datasets.meshes import load_mesh
from handobjectconsist.predict.errors import PredictError

MESH_SUFFIXES = (".obj", ".ply", ".stl", ".off", ".glb", ".gltf")


@dataclass
class ObjectModel:
    """Canonical object mesh.

    Attributes:
        name: the --object name, or the mesh file's stem.
        source: the mesh file read.
        can_verts: (N, 3) float32 metres, centred on the bounding-box centre.
        faces: (F, 3) int64.
    """

    name: str
    source: Path
    can_verts: np.ndarray
    faces: np.ndarray


def centred_on_box(verts: np.ndarray) -> np.ndarray:
    """(N, 3) vertices minus the centre of their axis-aligned bounding box."""
    verts = np.asarray(verts, dtype=np.float64)
    return verts - (verts.min(0) + verts.max(0)) / 2


def training_object_paths(opts: Dict, data_root: Optional[str] = None) -> Dict[str, Path]:
    """{object name: mesh file} for the training sets of a checkpoint's options (files may not exist).

    Args:
        opts: the checkpoint's flag dict (train_datasets, data_root).
        data_root: folder to look in instead of the checkpoint's --data_root.
    """
    root = data_root if data_root is not None else opts.get("data_root", "data")
    paths: Dict[str, Path] = {}
    for dataset in opts.get("train_datasets", []):
        if dataset == "fhbhands":
            folder = dataset_folder(root, "fhbhands") / fphab.OBJECT_MODEL_DIR
            for name, stem in fphab.OBJECT_MODEL_STEMS.items():
                paths[name] = folder / f"{stem}_model" / f"{stem}_model.ply"
        elif dataset == "ho3dv2":
            folder = dataset_folder(root, "ho3dv2") / ho3dv2.MODELS_DIR
            if folder.is_dir():
                for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
                    paths[sub.name] = sub / ho3dv2.MODEL_FILE
    return paths


def _looks_like_path(spec: str) -> bool:
    return "/" in spec or "\\" in spec or Path(spec).suffix.lower() in MESH_SUFFIXES


def _read(path: Path, flag_value: str) -> tuple:
    try:
        return load_mesh(path)
    except (AnnotationFormatError, MissingDataError) as err:
        raise PredictError(f"--object {flag_value}: cannot read {path} as a triangle mesh ({err}); give an OBJ, PLY "
                           f"or STL mesh file in metres, or the name of a training object") from None


def load_object(spec: str, opts: Dict, data_root: Optional[str] = None, scale: float = 1.0) -> ObjectModel:
    """Resolve --object: an existing mesh file, else the name of an object of the checkpoint's training sets.

    Args:
        spec: the --object value.
        opts: the checkpoint's options (for name lookup).
        data_root: --data_root override for name lookup.
        scale: multiplies the vertices (e.g. 0.001 for a mesh in millimetres).
    Raises:
        PredictError naming --object and what to give instead.
    """
    if not np.isfinite(scale) or scale <= 0:
        raise PredictError(f"--object_scale {scale}: must be a positive number (0.001 for a mesh in millimetres)")
    path = Path(spec)
    if path.is_file():
        verts, faces = _read(path, spec)
        name = path.stem
    elif _looks_like_path(spec):
        raise PredictError(f"--object {spec}: no such mesh file; give an existing OBJ/PLY/STL file in metres or "
                           f"the name of a training object")
    else:
        known = training_object_paths(opts, data_root)
        if spec not in known:
            names: Sequence[str] = sorted(known) or ["(none: the checkpoint's training sets have no object models)"]
            raise PredictError(f"--object {spec}: neither a mesh file nor an object of the checkpoint's training "
                               f"sets {opts.get('train_datasets')}; known names: {', '.join(names)}")
        path = known[spec]
        if not path.is_file():
            raise PredictError(f"--object {spec}: its mesh {path} does not exist; pass --data_root pointing at the "
                               f"training data, or the mesh file itself")
        verts, faces = _read(path, spec)
        if path.name == ho3dv2.MODEL_FILE:
            verts = ho3dv2.flip_gl_to_cv(verts)
        name = spec
    can = centred_on_box(verts * float(scale)).astype(np.float32)
    return ObjectModel(name=name, source=path, can_verts=can, faces=np.asarray(faces, dtype=np.int64))

