"""In-Python baseline for bench/remote.ts: what the rlts_gym server does per vector step, minus the socket.

N gymnasium envs stepped in a loop with random actions, observations flattened into one float32 [N, D]
array, finished envs reset in the same step. Prints JSON: env steps/s of each repeat.

Usage: python remote_baseline.py --env CartPole-v1 --num-envs 64 --vector-steps 500 --repeats 5
"""

import argparse
import json
import time

import gymnasium
import numpy as np
from gymnasium import spaces


def run(env_id, num_envs, vector_steps, repeats):
    envs = [gymnasium.make(env_id) for _ in range(num_envs)]
    obs_space, act_space = envs[0].observation_space, envs[0].action_space
    obs = np.zeros((num_envs, spaces.flatdim(obs_space)), dtype=np.float32)
    rewards = np.zeros(num_envs)
    dones = np.zeros(num_envs, dtype=np.uint8)
    for i, env in enumerate(envs):
        obs[i] = spaces.flatten(obs_space, env.reset(seed=i)[0])
    rng = np.random.default_rng(0)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(vector_steps):
            actions = rng.integers(0, act_space.n, size=num_envs, dtype=np.int32).tolist()
            for i, (env, action) in enumerate(zip(envs, actions)):
                o, r, terminated, truncated, _ = env.step(action)
                rewards[i] = r
                dones[i] = terminated or truncated
                if terminated or truncated:
                    o, _ = env.reset()
                obs[i] = spaces.flatten(obs_space, o)
        rates.append(num_envs * vector_steps / (time.perf_counter() - start))
    return rates


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--num-envs", type=int, required=True)
    parser.add_argument("--vector-steps", type=int, required=True)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rates = run(args.env, args.num_envs, args.vector_steps, args.repeats)
    print(json.dumps({"env_steps_per_s": rates}))


if __name__ == "__main__":
    main()
