import os
import warnings

import pytest
import torch

os.environ.setdefault("RL_WARNINGS", "False")
torch.set_num_threads(1)  # tests are many small ops: extra threads only contend


@pytest.fixture(autouse=True)
def _quiet_torchrl():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No target network updater")
        yield
