"""Stable-Baselines3 SAC on Pendulum-v1 with rl-baselines3-zoo's hyperparameters (hyperparams/sac.yml:
lr 1e-3, 20k steps, SB3's defaults otherwise), stopped as soon as the deterministic policy's mean return
over 10 evaluation episodes reaches the threshold. The peer run of `bench/sac.ts`:

    bench/.venv/bin/python bench/python/sb3_sac.py --seed 0 [--threshold -200] [--torch-threads 1]

The policy is evaluated every 1000 env steps, as rlts evaluates once per iteration of
`min_sample_timesteps_per_iteration` (1000) steps; evaluation time counts on both sides. Prints one JSON
line: env steps and training seconds to the threshold (null if never reached).
"""

import json
import time

import gymnasium as gym
import numpy as np
from sb3_common import parse_args
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy

TOTAL_TIMESTEPS = 20_000
EVAL_EVERY = 1000
EVAL_EPISODES = 10


class StopAtEvaluation(BaseCallback):
    """Every `EVAL_EVERY` env steps, evaluates the deterministic policy; stops once its mean reaches the threshold."""

    def __init__(self, eval_env: gym.Env, threshold: float):
        super().__init__()
        self.eval_env = eval_env
        self.threshold = threshold
        self.started = 0.0
        self.steps_to_threshold: int | None = None
        self.seconds_to_threshold: float | None = None
        self.last_evaluation: float | None = None

    def _on_training_start(self) -> None:
        self.started = time.perf_counter()

    def _on_step(self) -> bool:
        if self.num_timesteps % EVAL_EVERY != 0:
            return True
        mean, _ = evaluate_policy(self.model, self.eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True)
        self.last_evaluation = float(mean)
        if mean >= self.threshold:
            self.steps_to_threshold = self.num_timesteps
            self.seconds_to_threshold = time.perf_counter() - self.started
            return False
        return True


def main() -> None:
    args = parse_args(default_threshold=-200.0)
    env = gym.make("Pendulum-v1")
    eval_env = gym.make("Pendulum-v1")
    eval_env.reset(seed=args.seed + 1000)
    model = SAC("MlpPolicy", env, learning_rate=1e-3, seed=args.seed, device="cpu", verbose=0)
    stop = StopAtEvaluation(eval_env, args.threshold)
    started = time.perf_counter()
    model.learn(total_timesteps=TOTAL_TIMESTEPS, callback=stop)
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
