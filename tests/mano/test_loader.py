"""handobjectconsist/mano/loader.py: chumpy-free reading of MANO pickles."""

import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse

from handobjectconsist.mano import REQUIRED_KEYS, load_mano_model
from tests.mano.mano_testmodels import make_random_mano, write_model


def _install_fake_chumpy(monkeypatch):
    """Register modules chumpy, chumpy.ch, chumpy.reordering, chumpy.ch_ops mimicking chumpy's pickled state."""

    class Ch:
        def __init__(self, x):
            # chumpy's Ch.__getstate__ returns its __dict__ minus caches: the value is under "x"
            self.x = x
            self._dirty_vars = set()
            self._itr = None
            self._make_dense = False
            self._make_sparse = False

    class Select(Ch):
        def __init__(self, a, idxs, preferred_shape):
            self.__dict__.update(a=a, idxs=idxs, preferred_shape=preferred_shape, _dirty_vars=set(), _itr=None)

    class dot(Ch):  # noqa: N801  (chumpy's class name)
        def __init__(self, a, b):
            self.__dict__.update(a=a, b=b, _dirty_vars=set())

    modules = {name: types.ModuleType(name) for name in ("chumpy", "chumpy.ch", "chumpy.reordering", "chumpy.ch_ops")}
    for cls, module in ((Ch, "chumpy.ch"), (Select, "chumpy.reordering"), (dot, "chumpy.ch_ops")):
        cls.__module__, cls.__qualname__ = module, cls.__name__
        setattr(modules[module], cls.__name__, cls)
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return Ch, Select, dot


def _pickle_without_chumpy(monkeypatch, obj):
    data = pickle.dumps(obj, protocol=2)
    monkeypatch.undo()  # remove the fake chumpy: the loader must not need it
    assert "chumpy" not in sys.modules
    return data


def test_reads_chumpy_arrays_and_sparse_regressor(tmp_path, monkeypatch):
    Ch, Select, _ = _install_fake_chumpy(monkeypatch)
    reference = make_random_mano(num_verts=30, seed=3)
    stored = dict(reference)
    for key in ("v_template", "shapedirs", "posedirs", "weights", "hands_mean"):
        stored[key] = Ch(reference[key])
    # a Select expression: v_template rebuilt from a permuted copy
    perm = np.random.default_rng(0).permutation(reference["v_template"].size)
    flat = np.empty(perm.size)
    flat[perm] = reference["v_template"].ravel()
    stored["v_template"] = Select(Ch(flat), perm, reference["v_template"].shape)
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(_pickle_without_chumpy(monkeypatch, stored))

    model = load_mano_model(path)

    for key in ("v_template", "shapedirs", "posedirs", "weights", "hands_mean", "hands_components"):
        assert isinstance(model[key], np.ndarray) and model[key].dtype == np.float64, key
        np.testing.assert_array_equal(model[key], reference[key], err_msg=key)
    assert isinstance(model["J_regressor"], np.ndarray)
    np.testing.assert_array_equal(model["J_regressor"], reference["J_regressor"].toarray())
    np.testing.assert_array_equal(model["f"], reference["f"])
    assert model["f"].dtype == np.int64
    assert model["kintree_table"][0, 0] == 4294967295
    assert model["bs_style"] == "lbs"


@pytest.mark.parametrize("sparse_type", [scipy.sparse.csr_matrix, scipy.sparse.coo_matrix])
def test_other_sparse_formats_become_dense(tmp_path, sparse_type):
    reference = make_random_mano(num_verts=20, seed=4)
    dense = reference["J_regressor"].toarray()
    reference["J_regressor"] = sparse_type(dense)
    model = load_mano_model(write_model(tmp_path / "MANO_RIGHT.pkl", reference))
    np.testing.assert_array_equal(model["J_regressor"], dense)


def test_unresolvable_chumpy_expression_names_the_key(tmp_path, monkeypatch):
    Ch, _, dot = _install_fake_chumpy(monkeypatch)
    stored = make_random_mano(num_verts=20, seed=5)
    stored["posedirs"] = dot(Ch(np.ones((2, 2))), Ch(np.ones((2, 2))))
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(_pickle_without_chumpy(monkeypatch, stored))
    with pytest.raises(ValueError, match=r"'posedirs'.*chumpy\.ch_ops\.dot"):
        load_mano_model(path)


def test_missing_file_says_how_to_get_it(tmp_path):
    path = tmp_path / "nowhere" / "MANO_RIGHT.pkl"
    with pytest.raises(FileNotFoundError) as info:
        load_mano_model(path)
    message = str(info.value)
    assert str(path) in message
    assert "mano.is.tue.mpg.de" in message and "assets/mano" in message
    assert "python -m handobjectconsist.synth mano --out assets/mano_synth" in message


def test_missing_keys_are_named(tmp_path):
    model = make_random_mano(num_verts=20, seed=6)
    del model["posedirs"], model["hands_mean"]
    path = write_model(tmp_path / "MANO_LEFT.pkl", model)
    with pytest.raises(ValueError) as info:
        load_mano_model(path)
    message = str(info.value)
    assert str(path) in message and "'posedirs'" in message and "'hands_mean'" in message
    assert "'weights'" not in message.split("(required")[0]


def test_not_a_dict_is_rejected(tmp_path):
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(ValueError, match="expected a pickled dict"):
        load_mano_model(path)


def test_required_keys_are_the_official_ones():
    assert set(REQUIRED_KEYS) == {"v_template", "shapedirs", "posedirs", "J_regressor", "weights", "f",
                                  "kintree_table", "hands_components", "hands_mean"}
