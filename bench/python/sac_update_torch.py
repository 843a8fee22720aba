"""SAC gradient steps/s in PyTorch on CPU, the update of rlts's SAC learner (and CleanRL's
sac_continuous_action.py): twin ReLU critics on (obs, action) toward the soft targets, then the
squashed-Gaussian actor through the updated critics, then log alpha toward -|A|, then the targets' Polyak
move, each with its own Adam. Pendulum's sizes: 3 observations, 1 action. Prints one JSON object per case.

Run: bench/.venv/bin/python bench/python/sac_update_torch.py [--threads N] [--hiddens 64,256] [--batch 256]
"""
import argparse
import json

import torch
import torch.nn as nn
from timing import median_rate

OBS_DIM, ACT_DIM = 3, 1
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


def mlp(inputs: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out))


class Actor(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.net = mlp(OBS_DIM, hidden, 2 * ACT_DIM)

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1)
        normal = torch.distributions.Normal(mean, log_std.exp())
        x = normal.rsample()
        action = torch.tanh(x)
        log_prob = (normal.log_prob(x) - torch.log(2.0 * (1 - action.pow(2)) + 1e-6)).sum(-1)
        return action, log_prob


def bench(hidden: int, batch: int, steps: int, repeats: int) -> dict:
    torch.manual_seed(0)
    actor = Actor(hidden)
    critics = [mlp(OBS_DIM + ACT_DIM, hidden, 1) for _ in range(2)]
    targets = [mlp(OBS_DIM + ACT_DIM, hidden, 1) for _ in range(2)]
    for target, critic in zip(targets, critics):
        target.load_state_dict(critic.state_dict())
    critic_params = [p for c in critics for p in c.parameters()]
    actor_opt = torch.optim.Adam(actor.parameters(), lr=1e-3)
    critic_opt = torch.optim.Adam(critic_params, lr=1e-3)
    log_alpha = torch.zeros(1, requires_grad=True)
    alpha_opt = torch.optim.Adam([log_alpha], lr=1e-3)
    obs, next_obs = torch.randn(batch, OBS_DIM), torch.randn(batch, OBS_DIM)
    actions = torch.rand(batch, ACT_DIM) * 2 - 1
    rewards, discounts = torch.randn(batch), torch.full((batch,), 0.99)

    def q(nets, o, a):
        inputs = torch.cat([o, a], 1)
        return torch.min(nets[0](inputs), nets[1](inputs)).squeeze(-1)

    def update():
        alpha = log_alpha.exp().item()
        with torch.no_grad():
            next_actions, next_logp = actor.sample(next_obs)
            y = rewards + discounts * (q(targets, next_obs, next_actions) - alpha * next_logp)
        inputs = torch.cat([obs, actions], 1)
        critic_loss = sum(((c(inputs).squeeze(-1) - y) ** 2).mean() for c in critics)
        critic_opt.zero_grad()
        critic_loss.backward()
        critic_opt.step()
        pi, logp = actor.sample(obs)
        actor_loss = (alpha * logp - q(critics, obs, pi)).mean()
        actor_opt.zero_grad()
        actor_loss.backward()
        actor_opt.step()
        alpha_loss = (-log_alpha.exp() * (logp.detach() - ACT_DIM)).mean()
        alpha_opt.zero_grad()
        alpha_loss.backward()
        alpha_opt.step()
        with torch.no_grad():
            for target, critic in zip(targets, critics):
                for t, c in zip(target.parameters(), critic.parameters()):
                    t.mul_(0.995).add_(c, alpha=0.005)

    rate = median_rate(update, steps, repeats, warmup=20)
    return {"hidden": hidden, "batch": batch, "steps_per_s": rate, "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hiddens", default="64,256")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for hidden in (int(h) for h in args.hiddens.split(",")):
        print(json.dumps(bench(hidden, args.batch, 100 if hidden <= 64 else 30, args.repeats)), flush=True)


if __name__ == "__main__":
    main()
