"""What the SB3 peer runs of bench/sb3.ts share: stopping at a mean return, and the one JSON line they print."""

import argparse
import json
import time
from collections import deque

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback


def parse_args(default_threshold: float = 475.0, extra: dict[str, str] | None = None) -> argparse.Namespace:
    """--seed, --threshold, --torch-threads and the `extra` string options, and torch set to that many threads: one by default, as
    rlts's wasm backend uses; 0 keeps torch's default pool (one thread per core). For small MLPs extra
    threads buy little, and on a shared machine the default pool contends with other processes and slowed
    the same run by up to 7x between repeats."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=default_threshold)
    parser.add_argument("--torch-threads", type=int, default=1)
    for name, default in (extra or {}).items():
        parser.add_argument(name, default=default)
    args = parser.parse_args()
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    args.torch_threads = torch.get_num_threads()
    return args


class StopAtMeanReturn(BaseCallback):
    """Keeps the last 100 episode returns (Monitor's `episode` info) and stops training once their mean
    reaches the threshold, remembering the env steps and seconds since training began. The mean is checked
    every `check_every` env steps, the granularity of rlts's once-per-iteration check, so neither side gets
    to stop earlier by checking more often."""

    def __init__(self, threshold: float, check_every: int):
        super().__init__()
        self.threshold = threshold
        self.check_every = check_every
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
        checkpoint = self.num_timesteps % self.check_every == 0
        if checkpoint and self.returns and np.mean(self.returns) >= self.threshold:
            self.steps_to_threshold = self.num_timesteps
            self.seconds_to_threshold = time.perf_counter() - self.started
            return False
        return True


def learn_and_report(model: BaseAlgorithm, total_timesteps: int, stop: StopAtMeanReturn, seed: int) -> None:
    """Trains until the threshold or `total_timesteps`, then prints the result as one JSON line."""
    started = time.perf_counter()
    model.learn(total_timesteps=total_timesteps, callback=stop)
    print(
        json.dumps(
            {
                "seed": seed,
                "steps_to_threshold": stop.steps_to_threshold,
                "seconds_to_threshold": stop.seconds_to_threshold,
                "learn_seconds": time.perf_counter() - started,
                "final_steps": model.num_timesteps,
                "final_return": float(np.mean(stop.returns)) if stop.returns else None,
            }
        )
    )
