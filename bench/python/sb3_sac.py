"""Stable-Baselines3 SAC with rl-baselines3-zoo's hyperparameters (hyperparams/sac.yml), stopped as soon as
the deterministic policy's mean return over 10 evaluation episodes reaches the threshold. The peer run of
`bench/sb3.ts --algo sac` (Pendulum-v1: lr 1e-3, 20k steps, SB3's defaults otherwise) and
`--algo sac-hopper` (Hopper-v5: SB3's defaults, 10k warm-up steps, 50k steps):

    bench/.venv/bin/python bench/python/sb3_sac.py --seed 0 [--env Pendulum-v1] [--threshold -200] [--torch-threads 1]

The policy is evaluated every `--eval-every` env steps, as rlts evaluates once per iteration of
`min_sample_timesteps_per_iteration` steps; evaluation time counts on both sides. Prints one JSON line:
env steps and training seconds to the threshold (null if never reached) and the last evaluation.
"""

import json
import time

import gymnasium as gym
import numpy as np
from sb3_common import parse_args
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

EVAL_EPISODES = 10
# Per env: (total env steps, evaluation interval, SAC keyword arguments from rl-baselines3-zoo).
ZOO = {
    "Pendulum-v1": (20_000, 1000, {"learning_rate": 1e-3}),
    "Hopper-v5": (50_000, 5000, {"learning_starts": 10_000}),
}


class StopAtEvaluation(BaseCallback):
    """Every `every` env steps, evaluates the deterministic policy; stops once its mean reaches the threshold."""

    def __init__(self, eval_env: gym.Env, threshold: float, every: int):
        super().__init__()
        self.every = every
        self.eval_env = eval_env
        self.threshold = threshold
        self.started = 0.0
        self.steps_to_threshold: int | None = None
        self.seconds_to_threshold: float | None = None
        self.last_evaluation: float | None = None

    def _on_training_start(self) -> None:
        self.started = time.perf_counter()

    def _on_step(self) -> bool:
        if self.num_timesteps % self.every != 0:
            return True
        mean, _ = evaluate_policy(self.model, self.eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True)
        self.last_evaluation = float(mean)
        if mean >= self.threshold:
            self.steps_to_threshold = self.num_timesteps
            self.seconds_to_threshold = time.perf_counter() - self.started
            return False
        return True


def main() -> None:
    args = parse_args(default_threshold=-200.0, extra={"--env": "Pendulum-v1"})
    total, every, kwargs = ZOO[args.env]
    env = gym.make(args.env)
    eval_env = Monitor(gym.make(args.env))
    eval_env.reset(seed=args.seed + 1000)
    model = SAC("MlpPolicy", env, seed=args.seed, device="cpu", verbose=0, **kwargs)
    stop = StopAtEvaluation(eval_env, args.threshold, every)
    started = time.perf_counter()
    model.learn(total_timesteps=total, callback=stop)
    print(
        json.dumps(
            {
                "seed": args.seed,
                "steps_to_threshold": stop.steps_to_threshold,
                "seconds_to_threshold": stop.seconds_to_threshold,
                "learn_seconds": time.perf_counter() - started,
                "final_steps": model.num_timesteps,
                "final_return": stop.last_evaluation,
                "torch_threads": args.torch_threads,
            }
        )
    )


if __name__ == "__main__":
    main()
