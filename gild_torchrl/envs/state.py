"""An environment's complete state, so that a resumed run steps on exactly as the interrupted one would have.

TorchRL's collector keeps the episode in progress in its carrier TensorDict; what the carrier
does not hold lives inside the env: the simulator's state (MuJoCo's integration state, with the
solver's warm start, so that the next step is bit-identical), the random generator that draws
the next reset, and the step counters of Gymnasium's wrappers. PointNav's state is its generator.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from tensordict import TensorDictBase
from torchrl.envs import EnvBase, TransformedEnv

from gild_torchrl.envs.episode_info import RUNNING, EpisodeInfo
from gild_torchrl.envs.pointnav import PointNavEnv

#: Attributes of Gymnasium's wrappers that change while an episode runs.
WRAPPER_COUNTERS = ("_elapsed_steps", "_has_reset")


class EnvStateError(ValueError):
    """An env whose state cannot be saved or restored."""


def _base(env: EnvBase) -> EnvBase:
    while isinstance(env, TransformedEnv):
        env = env.base_env
    return env


def _gym_chain(gym_env) -> list:
    """The Gymnasium env's wrappers, outermost first, without :class:`EpisodeInfo` (its counters are
    the collector carrier's: :func:`continue_episode`), so that states saved before it was added match."""
    chain = [gym_env]
    while hasattr(chain[-1], "env"):
        chain.append(chain[-1].env)
    return [env for env in chain if not isinstance(env, EpisodeInfo)]


def continue_episode(env: EnvBase, carrier: TensorDictBase) -> None:
    """Set an env's :class:`EpisodeInfo` counters (step count, running returns) to the episode in
    progress in ``carrier`` (the collector's, restored from a checkpoint): the sums go on from there,
    as TorchRL's ``StepCounter`` / ``RewardSum`` transforms carry them on from the carrier. Envs
    without it (PointNav, whose transforms read the carrier) are left as they are."""
    gym_env = getattr(_base(env), "_env", None)
    while gym_env is not None and not isinstance(gym_env, EpisodeInfo):
        gym_env = getattr(gym_env, "env", None)
    if gym_env is None or not all(key in carrier.keys() for key in RUNNING):
        return
    gym_env.continue_episode(*(carrier.get(key).reshape(-1)[0].item() for key in RUNNING))


def get_env_state(env: EnvBase) -> dict[str, Any]:
    """A picklable snapshot of ``env`` (a TorchRL env made by :func:`gild_torchrl.envs.make_env`)."""
    base = _base(env)
    if isinstance(base, PointNavEnv):
        return {"kind": "pointnav", "rng": base.rng.get_state()}
    gym_env = getattr(base, "_env", None)
    if gym_env is None:
        raise EnvStateError(f"{type(base).__name__}: cannot save the state of this env (expected a Gymnasium env or PointNav).")
    chain = _gym_chain(gym_env)
    unwrapped = gym_env.unwrapped
    state: dict[str, Any] = {
        "kind": "gymnasium",
        "np_random": copy.deepcopy(unwrapped.np_random.bit_generator.state),
        "wrappers": [{k: getattr(w, k) for k in WRAPPER_COUNTERS if hasattr(w, k)} for w in chain],
    }
    model, data = getattr(unwrapped, "model", None), getattr(unwrapped, "data", None)
    if model is not None and data is not None:
        import mujoco

        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        physics = np.empty(mujoco.mj_stateSize(model, spec), dtype=np.float64)
        mujoco.mj_getState(model, data, physics, spec)
        state["mujoco"] = torch.from_numpy(physics)
    return state


def set_env_state(env: EnvBase, state: dict[str, Any]) -> None:
    """Restore a snapshot of :func:`get_env_state` into an env built the same way."""
    base = _base(env)
    if state["kind"] == "pointnav":
        if not isinstance(base, PointNavEnv):
            raise EnvStateError(f"a PointNav state cannot be restored into {type(base).__name__}.")
        base.rng.set_state(state["rng"])
        return
    gym_env = getattr(base, "_env", None)
    if gym_env is None:
        raise EnvStateError(f"a Gymnasium state cannot be restored into {type(base).__name__}.")
    chain = _gym_chain(gym_env)
    if len(chain) != len(state["wrappers"]):
        raise EnvStateError(f"the saved env had {len(state['wrappers'])} wrappers, this one has {len(chain)}.")
    unwrapped = gym_env.unwrapped
    unwrapped.np_random.bit_generator.state = state["np_random"]
    for wrapper, counters in zip(chain, state["wrappers"]):
        for key, value in counters.items():
            setattr(wrapper, key, value)
    if "mujoco" in state:
        import mujoco

        physics = state["mujoco"].numpy().astype(np.float64)
        mujoco.mj_setState(unwrapped.model, unwrapped.data, physics, mujoco.mjtState.mjSTATE_INTEGRATION)
        mujoco.mj_forward(unwrapped.model, unwrapped.data)
