"""Stable-Baselines3 PPO on CartPole-v1 with rl-baselines3-zoo's tuned hyperparameters, stopped as soon as
the mean return of the last 100 episodes reaches the threshold. The peer run of bench/sb3.ts:

    bench/.venv/bin/python bench/python/sb3_ppo.py --seed 0 [--threshold 475]

Prints one JSON line: env steps and training seconds to the threshold (null if never reached).
The return is checked once per rollout (8 envs x 32 steps = 256 steps), the same granularity as rlts's
once-per-iteration check, so neither side gets to stop earlier by checking more often.
"""

import argparse
import json
import time
from collections import deque

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env

# hyperparams/ppo.yml, CartPole-v1 (rl-baselines3-zoo)
N_ENVS = 8
N_STEPS = 32
N_TIMESTEPS = 100_000


def linear(initial: float):
    """The zoo's `lin_<x>`: falls linearly from x to 0 over the run (SB3 passes the progress remaining)."""
    return lambda progress_remaining: progress_remaining * initial


class StopAtMeanReturn(BaseCallback):
    """Keeps the last 100 episode returns (Monitor's `episode` info) and stops training once their mean
    reaches the threshold, remembering the env steps and seconds since training began."""

    def __init__(self, threshold: float):
        super().__init__()
        self.threshold = threshold
        self.returns: deque[float] = deque(maxlen=100)
        self.started = 0.0
        self.steps_to_threshold: int | None = None
        self.seconds_to_threshold: float | None = None

    def _on_training_start(self) -> None:
        self.started = time.perf_counter()

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:
                self.returns.append(float(info["episode"]["r"]))
        rollout_done = self.num_timesteps % (N_ENVS * N_STEPS) == 0
        if rollout_done and self.returns and np.mean(self.returns) >= self.threshold:
            self.steps_to_threshold = self.num_timesteps
            self.seconds_to_threshold = time.perf_counter() - self.started
            return False
        return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=475.0)
    parser.add_argument("--torch-threads", type=int, default=1)
    args = parser.parse_args()
    # One thread, as rlts's wasm backend uses: for a 64x64 MLP extra threads buy little, and on a shared
    # machine torch's default pool (one thread per core) contends with other processes and slowed the
    # same run by up to 7x between repeats.
    torch.set_num_threads(args.torch_threads)

    env = make_vec_env("CartPole-v1", n_envs=N_ENVS, seed=args.seed)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=N_STEPS,
        batch_size=256,
        n_epochs=20,
        gae_lambda=0.8,
        gamma=0.98,
        ent_coef=0.0,
        learning_rate=linear(0.001),
        clip_range=linear(0.2),
        seed=args.seed,
        device="cpu",
        verbose=0,
    )
    stop = StopAtMeanReturn(args.threshold)
    started = time.perf_counter()
    model.learn(total_timesteps=N_TIMESTEPS, callback=stop)
    print(
        json.dumps(
            {
                "seed": args.seed,
                "steps_to_threshold": stop.steps_to_threshold,
                "seconds_to_threshold": stop.seconds_to_threshold,
                "learn_seconds": time.perf_counter() - started,
                "final_steps": model.num_timesteps,
                "final_return": float(np.mean(stop.returns)) if stop.returns else None,
            }
        )
    )


if __name__ == "__main__":
    main()
