"""Demonstration files of the right shape but the wrong dtype are refused with the file and the field."""

import numpy as np
import pytest

from gild_torchrl.data import DemonstrationError, Demonstrations


@pytest.mark.parametrize(
    "dtype, expected",
    [
        ("<U1", "field 'data' expected a numeric array"),
        (np.complex64, "field 'data' expected a real-valued array"),
        (object, "could not be read as a .npy array"),  # pickled objects are never unpickled from .npy
    ],
)
def test_wrong_dtype_is_one_clear_error(tmp_path, dtype, expected):
    path = tmp_path / "demos.npy"
    np.save(path, np.ones((5, 14)).astype(dtype), allow_pickle=True)
    with pytest.raises(DemonstrationError, match=rf"demos\.npy: {expected}"):
        Demonstrations.from_numpy(path, obs_dim=11)


def test_integer_rows_load_as_their_values(tmp_path):
    path = tmp_path / "ints.npy"
    rows = np.arange(28).reshape(2, 14)
    np.save(path, rows)
    demos = Demonstrations.from_numpy(path, obs_dim=11)
    assert demos.data["observation"].tolist() == rows[:, :11].tolist()
    assert demos.data["action"].tolist() == rows[:, 11:].tolist()
