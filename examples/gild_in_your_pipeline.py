"""Compose GILDLoss with TorchRL's TD3Loss in your own training loop (the README's example)."""
import torch
from tensordict import TensorDict
from torchrl.objectives import SoftUpdate

from gild_torchrl.algorithms import make_base_loss
from gild_torchrl.data import Demonstrations
from gild_torchrl.modules import make_action_spec
from gild_torchrl.objectives import GILDLoss

obs_dim, act_dim = 11, 3  # Hopper
td3 = make_base_loss("td3", obs_dim, make_action_spec(act_dim))  # TorchRL's own TD3Loss (or one of yours)
loss = GILDLoss(td3, observation_dim=obs_dim, action_dim=act_dim, warm_start=0.01, total_updates=1_000_000)

# The base loss's parameter groups and target networks are the wrapper's, as with TorchRL's TD3BCLoss.
actor_optim = torch.optim.Adam(loss.actor_network_params.values(True, True), lr=3e-4)
critic_optim = torch.optim.Adam(loss.qvalue_network_params.values(True, True), lr=3e-4)
gild_optim = torch.optim.Adam(loss.gild_network_params.values(True, True), lr=1e-4, weight_decay=1e-4)
optimizers = (actor_optim, critic_optim, gild_optim)
target_updater = SoftUpdate(loss, tau=0.005)

# The paper's on-disk format is float64 rows [s | a]: Demonstrations.from_numpy("demos.npy", obs_dim=11).
demonstrations = Demonstrations(TensorDict(
    observation=torch.randn(1000, obs_dim, dtype=torch.float64),
    action=torch.rand(1000, act_dim, dtype=torch.float64) * 2 - 1,
    batch_size=[1000],
))


def random_transitions(n: int) -> TensorDict:  # stands in for replay_buffer.sample()
    return TensorDict(
        observation=torch.randn(n, obs_dim),
        action=torch.rand(n, act_dim) * 2 - 1,
        next=TensorDict(
            observation=torch.randn(n, obs_dim),
            reward=torch.randn(n, 1),
            done=torch.zeros(n, 1, dtype=torch.bool),
            terminated=torch.zeros(n, 1, dtype=torch.bool),
            batch_size=[n],
        ),
        batch_size=[n],
    )


for update in range(4):
    batch = loss.make_batch(  # the batches under the loss's keys (after any loss.set_keys)
        replay=random_transitions(256),
        demo=demonstrations.sample(256, **loss.demo_keys),  # sampled under the loss's observation/action keys
        validation=random_transitions(256).select("observation"),  # a second replay sample's states
    )
    out = loss(batch)  # the loss runs TD3's policy delay: the actor and GILD train on every second update
    total = sum(value for key, value in out.items() if key.startswith("loss_"))
    for optimizer in optimizers:
        optimizer.zero_grad()
    total.backward()  # each network receives exactly its own gradient
    for optimizer in optimizers:
        optimizer.step()
    if "loss_actor" in out.keys():  # this update trained the actor: move the target networks
        target_updater.step()
        print(f"update {update}: meta utility {out['meta_utility']:+.2e}, GILD loss {out['gild_loss']:.3f}")
