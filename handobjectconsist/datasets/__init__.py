"""Datasets: FPHAB and HO3D-v2 readers, sparse annotation maps and pairing, sample dicts with augmentation, collate.

    reader = FPHAB(root, split="train", fraction=0.1, mano_root=...)   or HO3DV2(root, split="train", ...)
    data = HandObjectDataset(reader, mode="strong"|"weak"|"full", sample_nb=None|2, augment=True)
    loader = DataLoader(data, collate_fn=collate_samples (single frames) | collate_pairs (sample_nb),
                        worker_init_fn=seed_worker)

No on-disk caches: annotations are parsed at construction, images and meta files are read per sample.
Keys of the sample dicts: handobjectconsist.datasets.sample_keys.
"""

import importlib

# Exports are imported lazily, so that light modules (sample_keys, fphab_camera) and the reduce_fphab script do not
# pull in torch, trimesh and the readers.
_EXPORTS = {
    "FPHAB": "fphab",
    "HO3DV2": "ho3dv2",
    "AnnotationFormatError": "errors",
    "MissingDataError": "errors",
    "HandObjectDataset": "handobjset",
    "seed_worker": "handobjset",
    "collate_pairs": "collate",
    "collate_samples": "collate",
    "SparseMap": "sparse",
    "build_sparse_map": "sparse",
    "fphab_spacing": "sparse",
    "ho3d_spacing": "sparse",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"handobjectconsist.datasets.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'handobjectconsist.datasets' has no attribute {name!r}")
