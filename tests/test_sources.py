"""open_demonstrations: every format opens to exactly the values written, bundled sets, errors, import direction."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from tensordict import TensorDict
from torchrl.data import LazyTensorStorage, TensorDictReplayBuffer

from gild_torchrl.data import (
    DEMO_FORMATS,
    DemonstrationError,
    Demonstrations,
    MissingDemonstrationError,
    bundled,
    guess_format,
    open_demonstrations,
    pointnav_demonstrations,
)

torch.set_num_threads(1)

OBS, ACT = 4, 2  # PointNav's sizes
EPISODE_LENGTHS = (5, 7)


@pytest.fixture(scope="module")
def rows():
    """Float64 observations and actions of two episodes (12 rows), and the episode index."""
    rng = np.random.default_rng(3)
    n = sum(EPISODE_LENGTHS)
    episode = np.repeat(np.arange(len(EPISODE_LENGTHS)), EPISODE_LENGTHS)
    return rng.normal(size=(n, OBS)), rng.uniform(-1, 1, (n, ACT)), episode


def _write(kind: str, rows, root: Path) -> tuple[Path, str]:
    """``rows`` in ``kind``'s on-disk layout; returns the path and the format name that reads it."""
    obs, act, episode = rows
    flat = np.concatenate([obs, act], axis=1)
    if kind == "npy":
        np.save(root / "demos.npy", flat)
        return root / "demos.npy", "numpy"
    if kind == "npz":
        np.savez(root / "demos.npz", data=flat)
        return root / "demos.npz", "numpy"
    if kind == "npz_named":
        np.savez(root / "named.npz", observations=obs, actions=act)
        return root / "named.npz", "numpy"
    if kind == "pickle":
        (root / "demos.pkl").write_bytes(pickle.dumps(flat))
        return root / "demos.pkl", "pickle"
    td = TensorDict(observation=torch.from_numpy(obs), action=torch.from_numpy(act),
                    episode=torch.from_numpy(episode), batch_size=[len(obs)])
    if kind == "directory":
        return Demonstrations(td, meta={"task": "PointNav"}).save(root / "saved"), "directory"
    if kind == "replay_buffer":
        rb = TensorDictReplayBuffer(storage=LazyTensorStorage(100))
        rb.extend(td.exclude("episode"))
        rb.dumps(root / "rb")
        return root / "rb", "replay_buffer"
    assert kind == "minari", kind
    pytest.importorskip("minari")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = Demonstrations(td, meta={"task": "PointNav"}).to_minari("gildtest/sources-v0")
    return Path(dataset.spec.data_path).parent, "minari"


KINDS = ("directory", "npy", "npz", "npz_named", "pickle", "replay_buffer", "minari")


def _assert_values(demos: Demonstrations, rows) -> None:
    obs, act, _ = rows
    assert demos.data["observation"].dtype == demos.data["action"].dtype == torch.float64
    np.testing.assert_array_equal(demos.data["observation"].numpy(), obs)
    np.testing.assert_array_equal(demos.data["action"].numpy(), act)


@pytest.mark.parametrize("named", [False, True], ids=["auto", "named"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_format_opens_to_the_values_written(rows, tmp_path, monkeypatch, kind, named):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    path, fmt = _write(kind, rows, tmp_path)
    assert guess_format(path) == fmt
    demos = open_demonstrations(path, task="PointNav", format=fmt if named else "auto",
                                obs_dim=OBS, act_dim=ACT, trust_pickle=True)
    _assert_values(demos, rows)
    if kind in ("directory", "minari"):  # sources that keep episode boundaries
        np.testing.assert_array_equal(demos.data["episode"].numpy(), rows[2])
    if kind != "directory":  # imported sets record the task they were opened for
        assert demos.task == "PointNav"


def test_minari_by_dataset_id(rows, tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    _write("minari", rows, tmp_path)
    _assert_values(open_demonstrations("gildtest/sources-v0", task="PointNav", format="minari"), rows)


def test_a_path_with_a_tilde_is_expanded(rows, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    _write("npy", rows, tmp_path)
    _assert_values(open_demonstrations("~/demos.npy", task="PointNav", obs_dim=OBS, act_dim=ACT), rows)


def test_a_pickle_is_refused_without_trust(rows, tmp_path):
    path, _ = _write("pickle", rows, tmp_path)
    with pytest.raises(DemonstrationError, match="refusing to unpickle"):
        open_demonstrations(path, task="PointNav", obs_dim=OBS, act_dim=ACT)


@pytest.mark.parametrize("task", ["Hopper-v5", "SparseHopper-v5"])
def test_bundled_set_opens_with_no_path(task):
    demos = open_demonstrations(None, task=task)
    expected = Demonstrations.load(bundled("Hopper-v5"))
    assert (demos.obs_dim, demos.act_dim) == (11, 3) and len(demos) == len(expected) > 0
    assert (demos.data == expected.data).all()


def test_pointnav_with_no_path_is_the_generated_set():
    demos = open_demonstrations(None, task="PointNav", pointnav_episodes=2)
    expected = pointnav_demonstrations(num_episodes=2, seed=0)
    assert demos.num_episodes == 2 and len(demos) == len(expected)
    assert (demos.data == expected.data).all()
    assert demos.meta == expected.meta


def test_a_task_without_a_bundled_set_is_missing():
    with pytest.raises(MissingDemonstrationError, match="Swimmer-v5"):
        open_demonstrations(None, task="Swimmer-v5")


def test_unknown_format(tmp_path):
    with pytest.raises(DemonstrationError, match=re.escape("demos.format='hdf5'; expected one of")):
        open_demonstrations(tmp_path, task="PointNav", format="hdf5")


@pytest.mark.parametrize("fmt", ["auto", "directory", "numpy", "replay_buffer"])
def test_missing_path(tmp_path, fmt):
    missing = tmp_path / "nowhere"
    with pytest.raises(MissingDemonstrationError, match=re.escape(f"demos.path={str(missing)!r} does not exist")):
        open_demonstrations(missing, task="PointNav", format=fmt, obs_dim=OBS, act_dim=ACT)


def test_undetectable_format(tmp_path):
    (tmp_path / "unknown").mkdir()
    (tmp_path / "unknown" / "notes.txt").write_text("not demonstrations")
    expected = f"demos.path={str(tmp_path / 'unknown')!r}: cannot tell its format; set demos.format to one of {DEMO_FORMATS[1:]}"
    with pytest.raises(DemonstrationError, match=re.escape(expected)):
        open_demonstrations(tmp_path / "unknown", task="PointNav")


@pytest.mark.parametrize("kind", ["npy", "pickle"])
def test_numpy_and_pickle_need_both_sizes(rows, tmp_path, kind):
    path, fmt = _write(kind, rows, tmp_path)
    with pytest.raises(DemonstrationError, match=re.escape(f"demos.format={fmt!r} needs obs_dim and act_dim")) as err:
        open_demonstrations(path, task="PointNav", act_dim=ACT, trust_pickle=True)
    assert "obs_dim=None" in str(err.value)


def test_envs_do_not_import_data():
    code = ("import sys, gild_torchrl.envs; "
            "bad = sorted(m for m in sys.modules if m.startswith('gild_torchrl.data')); "
            "assert not bad, bad")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", ["demos.p", "demos_without_suffix"])
def test_a_pickle_is_recognised_by_its_content_and_refused_naming_the_recipe_flag(rows, tmp_path, name):
    """The GILD authors' sets are ``.p`` pickles; a pickle under any name is read as one."""
    path, _ = _write("pickle", rows, tmp_path)
    path = path.rename(tmp_path / name)
    assert guess_format(path) == "pickle"
    with pytest.raises(DemonstrationError) as refused:
        open_demonstrations(path, task="PointNav", obs_dim=OBS, act_dim=ACT)
    assert str(refused.value) == (f"{path}: refusing to unpickle (it can run arbitrary code); set demos.trust_pickle=true "
                                  f"(trust_pickle=True in Python) only for a file you trust.")
    _assert_values(open_demonstrations(path, task="PointNav", obs_dim=OBS, act_dim=ACT, trust_pickle=True), rows)


def test_a_set_recorded_for_another_task_of_the_same_widths_is_refused_unless_allowed():
    from omegaconf import OmegaConf

    from gild_torchrl.training.build import check_recorded_task

    cheetah = Demonstrations.load(bundled("HalfCheetah-v5"))  # 17 and 6 wide, as Walker2d
    cfg = OmegaConf.create({"env": {"name": "Walker2d-v5"}, "demos": {"path": "cheetah", "allow_other_task": False}})
    with pytest.raises(DemonstrationError) as refused:
        check_recorded_task(cfg, cheetah)
    assert str(refused.value) == ("demos.path='cheetah' holds demonstrations recorded for task 'HalfCheetah-v5', not "
                                  "env.name='Walker2d-v5'; give a set of Walker2d-v5, or pass demos.allow_other_task=true "
                                  "to train on it anyway.")
    cfg.demos.allow_other_task = True
    check_recorded_task(cfg, cheetah)
    cfg.env.name = "SparseHalfCheetah-v5"  # the sparse id is the same task
    cfg.demos.allow_other_task = False
    check_recorded_task(cfg, cheetah)
