"""CNN policy throughput in PyTorch on CPU: the Nature CNN of Stable-Baselines3's NatureCNN and CleanRL's
ppo_atari.py (Conv 32 8x8/4, Conv 64 4x4/2, Conv 64 3x3/1, ReLU each, flatten, Linear 512 ReLU) as a
shared trunk under a policy head (Linear -> actions) and a value head (Linear -> 1), as CleanRL.
Observations are float32 in [0, 1], NCHW. Two measures at one minibatch:
  forward: policy logits + value without autograd (inference), samples/s;
  update: one PPO step as CleanRL's ppo_atari.py (clipped ratio against fake old log-probs, clipped value
    loss, entropy bonus 0.01, vf coef 0.5), backward, global grad-norm clip 0.5, Adam (lr 2.5e-4,
    eps 1e-5), samples/s.
Prints one JSON object.

Run: bench/.venv/bin/python bench/python/cnn_torch.py [--threads N] [--batch 256]
MinAtar-size net: ... cnn_torch.py --input 10x10x4 --convs 16:3:1 --hidden 128
"""
import argparse
import json
import time

import torch
import torch.nn as nn
from timing import median_rate

NATURE_CONVS = "32:8:4,64:4:2,64:3:1"
CLIP_COEF, VF_COEF, ENT_COEF, MAX_GRAD_NORM = 0.1, 0.5, 0.01, 0.5


def parse_input(text: str) -> tuple[int, int, int]:
    """"HxWxC" (the env's HWC order) -> (H, W, C)."""
    h, w, c = (int(v) for v in text.lower().split("x"))
    return h, w, c


def parse_convs(text: str) -> list[tuple[int, int, int]]:
    """"out:kernel:stride,..." -> [(out, kernel, stride), ...]."""
    return [tuple(int(v) for v in layer.split(":")) for layer in text.split(",") if layer]


class Agent(nn.Module):
    def __init__(self, shape: tuple[int, int, int], convs: list[tuple[int, int, int]], hidden: int, actions: int):
        super().__init__()
        h, w, channels = shape
        layers: list[nn.Module] = []
        for out, kernel, stride in convs:
            layers += [nn.Conv2d(channels, out, kernel, stride), nn.ReLU()]
            channels = out
        layers.append(nn.Flatten())
        conv = nn.Sequential(*layers)
        with torch.no_grad():
            self.flat = conv(torch.zeros(1, shape[2], h, w)).shape[1]
        self.trunk = nn.Sequential(conv, nn.Linear(self.flat, hidden), nn.ReLU())
        self.actor = nn.Linear(hidden, actions)
        self.critic = nn.Linear(hidden, 1)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.trunk(obs)
        return self.actor(hidden), self.critic(hidden).squeeze(-1)


def calls_per_repeat(call, seconds: float) -> int:
    """Calls that take about `seconds`, from the time of one call."""
    start = time.perf_counter()
    call()
    return max(1, round(seconds / (time.perf_counter() - start)))


def bench(shape, convs, hidden: int, actions: int, batch: int, repeats: int, warmup: int, seconds: float) -> dict:
    torch.manual_seed(0)
    agent = Agent(shape, convs, hidden, actions)
    optimizer = torch.optim.Adam(agent.parameters(), lr=2.5e-4, eps=1e-5)
    h, w, c = shape
    obs = torch.rand(batch, c, h, w)
    actions_taken = torch.randint(0, actions, (batch,))
    old_logp = torch.full((batch,), -float(torch.log(torch.tensor(float(actions))))) + 0.1 * torch.randn(batch)
    advantages, returns = torch.randn(batch), torch.randn(batch)
    old_values = returns + 0.1 * torch.randn(batch)

    def forward():
        with torch.inference_mode():
            agent(obs)

    def update():
        logits, values = agent(obs)
        dist = torch.distributions.Categorical(logits=logits)
        ratio = torch.exp(dist.log_prob(actions_taken) - old_logp)
        pg_loss = torch.max(-advantages * ratio, -advantages * torch.clamp(ratio, 1 - CLIP_COEF, 1 + CLIP_COEF)).mean()
        clipped = old_values + torch.clamp(values - old_values, -CLIP_COEF, CLIP_COEF)
        v_loss = 0.5 * torch.max((values - returns) ** 2, (clipped - returns) ** 2).mean()
        loss = pg_loss - ENT_COEF * dist.entropy().mean() + VF_COEF * v_loss
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(agent.parameters(), MAX_GRAD_NORM)
        optimizer.step()

    result = {
        "input": list(shape),
        "convs": [list(layer) for layer in convs],
        "flat": agent.flat,
        "hidden": hidden,
        "actions": actions,
        "params": sum(p.numel() for p in agent.parameters()),
        "batch": batch,
    }
    for name, call in (("forward", forward), ("update", update)):
        for _ in range(warmup):
            call()
        steps = calls_per_repeat(call, seconds)
        result[f"{name}_samples_per_s"] = median_rate(call, steps, repeats, warmup=0) * batch
        result[f"{name}_calls_per_repeat"] = steps
    result["threads"] = torch.get_num_threads()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--input", default="84x84x4", help="observation HxWxC (fed as NCHW float32 in [0, 1])")
    parser.add_argument("--convs", default=NATURE_CONVS, help="conv layers as out:kernel:stride, comma-separated")
    parser.add_argument("--hidden", type=int, default=512, help="width of the Linear after the flatten")
    parser.add_argument("--actions", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls before each measure")
    parser.add_argument("--seconds", type=float, default=1.0, help="about how long one timed repeat runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = bench(
        parse_input(args.input), parse_convs(args.convs), args.hidden, args.actions,
        args.batch, args.repeats, args.warmup, args.seconds,
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
