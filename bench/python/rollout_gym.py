"""Rollout sampling rate with policy inference in Python, the baseline of bench/rollout.ts (which runs this
as a child process):

    bench/.venv/bin/python bench/python/rollout_gym.py --mode sync --num-envs 1 8 32 --steps 8192 --repeats 5

CleanRL's rollout loop: `gymnasium.make_vec("CartPole-v1", n)` (SyncVectorEnv, or AsyncVectorEnv with one
process per env) and a PyTorch actor-critic with separate 64-64 tanh MLPs for policy and value; every vector
step runs both networks on the batch of observations, samples a categorical action, and stores obs, action,
log-prob, value, reward, terminated and truncated in preallocated arrays, as the TypeScript env runner does.
Autoreset is same-step, as in rlts. `--extra-path` appends a site-packages directory (python/.venv's, for
gymnasium) after this interpreter's own. Prints one JSON line per env count: env steps/s of every repeat.
"""

import argparse
import json
import sys
import time


def policy(obs_dim: int, num_actions: int):
    import torch
    from torch import nn

    def mlp(out_dim: int) -> nn.Module:
        return nn.Sequential(
            nn.Linear(obs_dim, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, out_dim)
        )

    torch.manual_seed(0)
    return mlp(num_actions), mlp(1)


def sample_rate(mode: str, num_envs: int, steps: int) -> float:
    """Env steps per second of one fragment of `steps` env steps (`steps // num_envs` vector steps)."""
    import gymnasium
    import numpy as np
    import torch

    envs = gymnasium.make_vec(
        "CartPole-v1",
        num_envs=num_envs,
        vectorization_mode=mode,
        vector_kwargs={"autoreset_mode": gymnasium.vector.AutoresetMode.SAME_STEP},
    )
    actor, critic = policy(envs.single_observation_space.shape[0], envs.single_action_space.n)
    num_steps = steps // num_envs
    obs_buf = np.zeros((num_steps, num_envs) + envs.single_observation_space.shape, dtype=np.float32)
    actions_buf = np.zeros((num_steps, num_envs), dtype=np.int64)
    logp_buf = np.zeros((num_steps, num_envs), dtype=np.float32)
    values_buf = np.zeros((num_steps, num_envs), dtype=np.float32)
    rewards_buf = np.zeros((num_steps, num_envs), dtype=np.float32)
    terminated_buf = np.zeros((num_steps, num_envs), dtype=np.bool_)
    truncated_buf = np.zeros((num_steps, num_envs), dtype=np.bool_)
    obs, _ = envs.reset(seed=0)
    start = time.perf_counter()
    with torch.no_grad():
        for t in range(num_steps):
            obs_buf[t] = obs
            obs_tensor = torch.from_numpy(obs_buf[t])
            distribution = torch.distributions.Categorical(logits=actor(obs_tensor))
            action = distribution.sample()
            logp_buf[t] = distribution.log_prob(action).numpy()
            values_buf[t] = critic(obs_tensor).squeeze(-1).numpy()
            actions_buf[t] = action.numpy()
            obs, rewards_buf[t], terminated_buf[t], truncated_buf[t], _ = envs.step(actions_buf[t])
    elapsed = time.perf_counter() - start
    envs.close()
    return num_steps * num_envs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=["sync", "async"], required=True)
    parser.add_argument("--num-envs", type=int, nargs="+", required=True)
    parser.add_argument("--steps", type=int, default=8192, help="env steps per timed fragment")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--extra-path", action="append", default=[])
    args = parser.parse_args()
    sys.path.extend(args.extra_path)
    import torch

    # The TypeScript runner infers on one core per runner; a batch of at most 32 gains nothing from more.
    torch.set_num_threads(1)
    for num_envs in args.num_envs:
        sample_rate(args.mode, num_envs, min(args.steps, 64 * num_envs))  # warm-up
        rates = [sample_rate(args.mode, num_envs, args.steps) for _ in range(args.repeats)]
        print(json.dumps({"mode": args.mode, "num_envs": num_envs, "rates": rates}), flush=True)


if __name__ == "__main__":
    main()
