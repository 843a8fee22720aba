"""Stable-Baselines3 PPO on CartPole-v1 with rl-baselines3-zoo's tuned hyperparameters, stopped as soon as
the mean return of the last 100 episodes reaches the threshold. The peer run of bench/sb3.ts:

    bench/.venv/bin/python bench/python/sb3_ppo.py --seed 0 [--threshold 475]

Prints one JSON line: env steps and training seconds to the threshold (null if never reached).
The return is checked once per rollout (8 envs x 32 steps = 256 steps), as rlts checks once per iteration.
"""

from sb3_common import StopAtMeanReturn, learn_and_report, parse_args
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

# hyperparams/ppo.yml, CartPole-v1 (rl-baselines3-zoo)
N_ENVS = 8
N_STEPS = 32
N_TIMESTEPS = 100_000


def linear(initial: float):
    """The zoo's `lin_<x>`: falls linearly from x to 0 over the run (SB3 passes the progress remaining)."""
    return lambda progress_remaining: progress_remaining * initial


def main() -> None:
    args = parse_args()

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
    learn_and_report(model, N_TIMESTEPS, StopAtMeanReturn(args.threshold, N_ENVS * N_STEPS), args.seed)


if __name__ == "__main__":
    main()
