"""Compose GILDLoss with TorchRL's TD3Loss in your own training loop (the README's example)."""
import torch
from tensordict import TensorDict
from torchrl.objectives import SoftUpdate

from gild_torchrl.modules import make_action_spec, make_base_loss
from gild_torchrl.objectives import GILDLoss, make_batch

obs_dim, act_dim = 11, 3  # Hopper
td3 = make_base_loss("td3", obs_dim, make_action_spec(act_dim))  # TorchRL's own TD3Loss
loss = GILDLoss(td3, observation_dim=obs_dim, action_dim=act_dim, warm_start=0.01, total_updates=1_000_000)

actor_optim = torch.optim.Adam(td3.actor_network_params.values(True, True), lr=3e-4)
critic_optim = torch.optim.Adam(td3.qvalue_network_params.values(True, True), lr=3e-4)
gild_optim = torch.optim.Adam(loss.gild_network_params.values(True, True), lr=1e-4, weight_decay=1e-4)
optimizers = (actor_optim, critic_optim, gild_optim)
target_updater = SoftUpdate(td3, tau=0.005)  # the base loss owns the target networks


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
    batch = make_batch(
        replay=random_transitions(256),
        demo=random_transitions(256).select("observation", "action"),  # demonstrations.sample(256)
        validation=random_transitions(256).select("observation"),  # a second replay sample's states
    )
    out = loss(batch)
    total = sum(value for key, value in out.items() if key.startswith("loss_"))
    for optimizer in optimizers:
        optimizer.zero_grad()
    total.backward()  # each network receives exactly its own gradient
    for optimizer in optimizers:
        optimizer.step()
    if "loss_actor" in out.keys():  # TD3 trains its actor (and targets) every second update
        target_updater.step()
        print(f"update {update}: meta utility {out['meta_utility']:+.2e}, GILD loss {out['gild_loss']:.3f}")
