"""Run TD3's policy delay in your own loop, as TorchRL's TD3 script does (the docs' second example, docs/losses.md)."""
import torch
from tensordict import TensorDict
from torchrl.objectives import SoftUpdate

from gild_torchrl.algorithms import make_base_loss
from gild_torchrl.modules import make_action_spec
from gild_torchrl.objectives import GILDLoss

obs_dim, act_dim, delay = 11, 3, 2
loss = GILDLoss(make_base_loss("td3", obs_dim, make_action_spec(act_dim)), observation_dim=obs_dim, action_dim=act_dim,
                warm_start=5_000)  # actor updates
optimizers = [torch.optim.Adam(params.values(True, True), lr=lr) for params, lr in
              ((loss.actor_network_params, 3e-4), (loss.qvalue_network_params, 3e-4), (loss.gild_network_params, 1e-4))]
target_updater = SoftUpdate(loss, tau=0.005)
batch = TensorDict(  # one fixed batch stands in for the replay, demonstration and validation samples
    observation=torch.randn(256, obs_dim), action=torch.rand(256, act_dim) * 2 - 1,
    next=TensorDict(observation=torch.randn(256, obs_dim), reward=torch.randn(256, 1),
                    done=torch.zeros(256, 1, dtype=torch.bool), terminated=torch.zeros(256, 1, dtype=torch.bool),
                    batch_size=[256]),
    demo=TensorDict(observation=torch.randn(256, obs_dim), action=torch.rand(256, act_dim) * 2 - 1, batch_size=[256]),
    batch_size=[256],
)

for update in range(6):
    out = loss(batch, update_actor=update % delay == 0)  # your loop decides which updates train the actor
    for optimizer in optimizers:
        optimizer.zero_grad()
    sum(value for key, value in out.items() if key.startswith("loss_")).backward()
    for optimizer in optimizers:
        optimizer.step()
    if "loss_actor" in out.keys():
        target_updater.step()
    with torch.no_grad():  # an evaluation call (logging, debugging) moves neither the delay nor the warm start
        preview = loss(batch, update_actor=True)
    print(f"update {update}: critic loss {out['loss_qvalue']:.3f}, actor updates so far {loss.num_guided_updates}")
