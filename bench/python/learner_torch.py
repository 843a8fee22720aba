"""PPO update throughput in PyTorch on CPU, with the network, loss and optimizer of rlts's learner:
separate actor and critic MLPs (tanh), categorical policy, CleanRL's clipped loss with value clipping and
entropy bonus, Adam (eps 1e-5), global grad-norm clip 0.5. Prints one JSON object per case.

Run: bench/.venv/bin/python bench/python/learner_torch.py [--threads N]
"""
import argparse
import json

import torch
import torch.nn as nn
from timing import median_rate

OBS_DIM, NUM_ACTIONS = 4, 2


def mlp(hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(OBS_DIM, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, out))


def bench(hidden: int, batch: int, steps: int, repeats: int) -> dict:
    torch.manual_seed(0)
    actor, critic = mlp(hidden, NUM_ACTIONS), mlp(hidden, 1)
    params = list(actor.parameters()) + list(critic.parameters())
    optimizer = torch.optim.Adam(params, lr=3e-4, eps=1e-5)
    obs = torch.randn(batch, OBS_DIM)
    actions = torch.randint(0, NUM_ACTIONS, (batch,))
    old_logp = torch.full((batch,), -0.69) + 0.1 * torch.randn(batch)
    advantages, returns = torch.randn(batch), torch.randn(batch)
    old_values = returns + 0.1 * torch.randn(batch)

    def update():
        logits = actor(obs)
        values = critic(obs).squeeze(-1)
        dist = torch.distributions.Categorical(logits=logits)
        ratio = torch.exp(dist.log_prob(actions) - old_logp)
        policy_loss = -torch.min(ratio * advantages, torch.clamp(ratio, 0.8, 1.2) * advantages).mean()
        clipped = old_values + torch.clamp(values - old_values, -0.2, 0.2)
        vf_loss = 0.5 * torch.max((values - returns) ** 2, (clipped - returns) ** 2).mean()
        loss = policy_loss + 0.5 * vf_loss - 0.01 * dist.entropy().mean()
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 0.5)
        optimizer.step()

    rate = median_rate(update, steps, repeats, warmup=10) * batch
    return {"hidden": hidden, "batch": batch, "samples_per_s": rate, "threads": torch.get_num_threads()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--cases",
        default="64:64:100,64:512:50,256:512:20",
        help="hidden:minibatch:steps, comma-separated",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    for case in args.cases.split(","):
        hidden, batch, steps = (int(x) for x in case.split(":"))
        print(json.dumps(bench(hidden, batch, steps, args.repeats)), flush=True)
