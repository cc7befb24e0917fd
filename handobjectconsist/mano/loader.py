"""Chumpy-free reader of the MANO model files (MANO_RIGHT.pkl / MANO_LEFT.pkl).

The official files are Python-2 pickles. Several arrays in them are chumpy objects (`chumpy.ch.Ch` and, in some
releases, derived expressions such as `chumpy.reordering.Select`) and `J_regressor` is a scipy sparse matrix.
Instead of importing chumpy (unmaintained, breaks on recent numpy), the unpickler below replaces every chumpy class
by a stand-in that only keeps the pickled state, and every scipy sparse class by a stand-in that keeps the raw
(data, indices, indptr, shape) arrays. After loading, the stand-ins are turned into plain numpy arrays.
"""

from __future__ import annotations

import operator
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from handobjectconsist.errors import UserError

REQUIRED_KEYS = (
    "v_template",  # (V, 3) rest vertices, metres
    "shapedirs",  # (V, 3, 10) shape blend shapes
    "posedirs",  # (V, 3, 9 * (J - 1)) pose blend shapes
    "J_regressor",  # (J, V) joint regressor (sparse in the official files)
    "weights",  # (V, J) skinning weights
    "f",  # (F, 3) faces
    "kintree_table",  # (2, J) parents (row 0) and joint ids (row 1)
    "hands_components",  # (45, 45) pose PCA basis, one component per row
    "hands_mean",  # (45,) mean hand pose (axis-angle, 15 joints)
)

INTEGER_KEYS = ("f", "kintree_table", "hoc_tip_vertex_ids", "hoc_wrist_faces")

HOW_TO_GET_MANO = (
    "Official model: register at https://mano.is.tue.mpg.de, download 'Models & Code' and copy "
    "mano_v1_2/models/MANO_RIGHT.pkl and MANO_LEFT.pkl into assets/mano/. "
    "Synthetic stand-in (same format): python -m handobjectconsist.synth mano --out assets/mano_synth"
)


class MissingManoFileError(UserError, FileNotFoundError):
    """A MANO pickle is not where it was expected."""


class ManoFileError(UserError, ValueError):
    """A MANO pickle that cannot be used (not a pickle, truncated, missing keys); the message names the file."""


class _ChumpyStandIn:
    """Replaces any chumpy class while unpickling; keeps the pickled state dict for later evaluation."""

    chumpy_class = "chumpy.?"
    state: dict = {}  # replaced (never mutated) by __setstate__

    def __init__(self, *args, **kwargs):  # chumpy objects may be rebuilt through a constructor call
        self.state = {"args": args, **kwargs}

    def __setstate__(self, state):
        self.state = state if isinstance(state, dict) else {"state": state}


class _SparseStandIn:
    """Replaces a scipy sparse class while unpickling: scipy's private attributes changed over versions, so only
    the raw arrays are kept and the matrix is rebuilt with the current scipy."""

    sparse_format = "?"
    state: dict = {}  # replaced (never mutated) by __setstate__

    def __setstate__(self, state):
        self.state = state


_STANDIN_CACHE: dict[tuple[str, str, str], type] = {}


def _standin_class(base: type, module: str, name: str) -> type:
    key = (base.__name__, module, name)
    if key not in _STANDIN_CACHE:
        attrs = {"chumpy_class": f"{module}.{name}"} if base is _ChumpyStandIn else {"sparse_format": name[:3]}
        _STANDIN_CACHE[key] = type(f"StandIn_{name}", (base,), attrs)
    return _STANDIN_CACHE[key]


class _ManoUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "chumpy" or module.startswith("chumpy."):
            return _standin_class(_ChumpyStandIn, module, name)
        if module.startswith("scipy.sparse") and name.endswith(("_matrix", "_array")):
            return _standin_class(_SparseStandIn, module, name)
        if module.startswith("numpy.core"):  # numpy 2 renamed numpy.core to numpy._core
            module = "numpy._core" + module[len("numpy.core"):]
        return super().find_class(module, name)


_BINARY_CHUMPY_OPS = {"add": operator.add, "subtract": operator.sub, "multiply": operator.mul}


def _chumpy_to_numpy(obj: Any, key: str, path: Path) -> np.ndarray:
    """Numpy value of a chumpy stand-in: a plain Ch holds it under "x"; Select and +,-,* are evaluated."""
    if not isinstance(obj, _ChumpyStandIn):
        return np.asarray(_to_plain(obj, key, path))
    state = obj.state
    class_name = obj.chumpy_class.rsplit(".", 1)[-1]
    if "x" in state:
        return _chumpy_to_numpy(state["x"], key, path)
    if class_name == "Select" and "a" in state and "idxs" in state:
        values = _chumpy_to_numpy(state["a"], key, path).ravel()[np.asarray(state["idxs"]).ravel()]
        shape = state.get("preferred_shape")
        return values.reshape(shape) if shape is not None else values
    if class_name in _BINARY_CHUMPY_OPS and "a" in state and "b" in state:
        a = _chumpy_to_numpy(state["a"], key, path)
        b = _chumpy_to_numpy(state["b"], key, path)
        return _BINARY_CHUMPY_OPS[class_name](a, b)
    raise ManoFileError(
        f"{path}: key {key!r} holds a chumpy expression of class {obj.chumpy_class} with state keys "
        f"{sorted(state)}; this reader only resolves plain chumpy.ch.Ch values (state key 'x'), Select, add, "
        f"subtract and multiply. Re-export the key as a numpy array (e.g. with chumpy: value.r)."
    )


def _sparse_to_dense(obj: _SparseStandIn, key: str, path: Path) -> np.ndarray:
    state = obj.state
    shape = state.get("_shape", state.get("shape"))
    try:
        if obj.sparse_format in ("csc", "csr"):
            build = scipy.sparse.csc_matrix if obj.sparse_format == "csc" else scipy.sparse.csr_matrix
            matrix = build((state["data"], state["indices"], state["indptr"]), shape=shape)
        elif obj.sparse_format == "coo":
            coords = state["coords"] if "coords" in state else (state["row"], state["col"])  # newer scipy: coords
            matrix = scipy.sparse.coo_matrix((state["data"], tuple(coords)), shape=shape)
        else:
            raise KeyError(f"unsupported sparse format {obj.sparse_format!r}")
    except KeyError as err:
        raise ManoFileError(
            f"{path}: key {key!r} holds a scipy sparse matrix that cannot be rebuilt ({err}); "
            f"state keys {sorted(state)}. Expected a csc/csr/coo matrix."
        ) from err
    return np.asarray(matrix.toarray(), dtype=np.float64)


def _to_plain(value: Any, key: str, path: Path) -> Any:
    if isinstance(value, _ChumpyStandIn):
        return np.asarray(_chumpy_to_numpy(value, key, path))
    if isinstance(value, _SparseStandIn):
        return _sparse_to_dense(value, key, path)
    if scipy.sparse.issparse(value):
        return np.asarray(value.toarray(), dtype=np.float64)
    return value


def load_mano_model(path) -> dict[str, np.ndarray]:
    """Read a MANO model pickle without chumpy.

    Args:
        path: a MANO_RIGHT.pkl / MANO_LEFT.pkl file (official or synthetic).
    Returns:
        dict with at least REQUIRED_KEYS as numpy arrays: float64 for the geometry (metres), int64 for "f",
        "kintree_table" and the optional "hoc_" topology keys; J_regressor dense (J, V). Other entries of the
        file (e.g. "bs_style" strings) are kept as they are.
    Raises:
        FileNotFoundError: the file does not exist (the message says how to get it).
        ManoFileError (a ValueError): the file is not a readable MANO model dict, misses required keys, or holds
            an unsupported chumpy expression.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingManoFileError(f"MANO model file not found: {path}. {HOW_TO_GET_MANO}")
    with path.open("rb") as handle:
        try:
            raw = _ManoUnpickler(handle, encoding="latin1").load()
        except Exception as err:  # garbage or truncated files fail in many ways (UnpicklingError, EOFError, ...)
            raise ManoFileError(f"{path}: not a readable MANO pickle ({type(err).__name__}: {err}). "
                                f"{HOW_TO_GET_MANO}") from None
    if not isinstance(raw, dict):
        raise ManoFileError(f"{path}: expected a pickled dict of MANO arrays, got {type(raw).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in raw]
    if missing:
        raise ManoFileError(
            f"{path}: MANO model is missing required keys {missing} (required: {list(REQUIRED_KEYS)}). "
            f"{HOW_TO_GET_MANO}"
        )
    model = {}
    for key, value in raw.items():
        value = _to_plain(value, key, path)
        if key in INTEGER_KEYS:
            value = np.asarray(value).astype(np.int64)
        elif key in REQUIRED_KEYS:
            value = np.asarray(value, dtype=np.float64)
        model[key] = value
    return model


def mano_model_path(mano_root, side: str) -> Path:
    """Path of the model file for `side` ("right" or "left") inside the folder `mano_root`."""
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    return Path(mano_root) / f"MANO_{side.upper()}.pkl"
