"""Gymnasium's CartPole-v1 stepping rate, the Python side of bench/envs.ts (which runs this as a child).

    python/.venv/bin/python bench/python/envs_gym.py --steps 20000 --vector-steps 2000 --repeats 5

Two loops with random actions, as a user writes them: one `gymnasium.make("CartPole-v1")` env with
`env.action_space.sample()` and reset on episode end, and `gymnasium.vector.SyncVectorEnv` of 16 such envs
(it resets finished sub-envs itself). Prints one JSON line: env steps per second for every repeat.
"""

import argparse
import json
import time

import gymnasium


def single_env_rate(steps: int) -> float:
    env = gymnasium.make("CartPole-v1")
    env.action_space.seed(0)
    env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def vector_env_rate(num_envs: int, steps: int) -> float:
    envs = gymnasium.vector.SyncVectorEnv([lambda: gymnasium.make("CartPole-v1") for _ in range(num_envs)])
    envs.action_space.seed(0)
    envs.reset(seed=0)
    start = time.perf_counter()
    for _ in range(steps):
        envs.step(envs.action_space.sample())
    elapsed = time.perf_counter() - start
    envs.close()
    return num_envs * steps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--vector-steps", type=int, default=2000)
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    single_env_rate(args.steps // 10)  # warm-up: imports, first-call caches
    result = {
        "gymnasium": gymnasium.__version__,
        "single": [single_env_rate(args.steps) for _ in range(args.repeats)],
        "vector": [vector_env_rate(args.num_envs, args.vector_steps) for _ in range(args.repeats)],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
