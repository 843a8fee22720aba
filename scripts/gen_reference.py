"""Reference trajectories of Gymnasium's classic-control envs for test/envs/classic.test.ts.

Run with the project's venv:  python/.venv/bin/python scripts/gen_reference.py

Every episode is `gymnasium.make(id, **kwargs)` (so TimeLimit truncation is in the data), reset, then
given a fixed start state (`env.unwrapped.state`), because numpy's PCG64 stream cannot be reproduced in
TypeScript. The actions come from a seeded numpy generator or a simple controller (to reach terminations
and the clipping branches) and are written into the file, so the TypeScript side replays them verbatim.

Number formats, chosen so every value round-trips exactly:
- start states and rewards are float64, written with Python's repr (shortest round-trip form);
- observations and continuous actions are float32, written in their shortest float32 form: parse the
  number, then round it to float32 (`Math.fround`) to get the exact value.
"""

import json
from pathlib import Path

import gymnasium
import numpy as np

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "classic_reference.json"


def f32(x) -> float:
    """The float32 value of x, as the float whose repr is its shortest float32 form."""
    return float(str(np.float32(x)))


def sign(x: float) -> int:
    return 1 if x >= 0 else -1


# Each episode: env id, kwargs, attributes set on env.unwrapped, start state, action source, and how many
# steps to keep stepping after the episode ends (Gymnasium's step-after-termination behaviour).
# An action source gets (generator, observation) and returns the action.
def cartpole_balance(rng, obs):
    x, x_dot, theta, theta_dot = obs
    push_right = theta + 0.5 * theta_dot + 0.05 * x + 0.1 * x_dot > 0
    return int(push_right) if rng.random() > 0.1 else int(rng.integers(2))


EPISODES = [
    # CartPole: random actions until the pole falls; a noisy balancer that lasts to the time limit; the
    # cart running off the right edge with Sutton & Barto's rewards, stepped past termination; the
    # semi-implicit integrator.
    dict(env="CartPole-v1", start=[0.01, -0.02, 0.03, 0.04], policy="random"),
    dict(env="CartPole-v1", start=[-0.04, 0.03, -0.02, 0.01], policy="random"),
    dict(env="CartPole-v1", start=[0.0, 0.0, 0.05, 0.0], policy=cartpole_balance),
    dict(
        env="CartPole-v1",
        kwargs={"sutton_barto_reward": True},
        start=[2.3, 0.5, 0.0, 0.0],
        policy=lambda rng, obs: 1,
        extra_steps=3,
    ),
    dict(
        env="CartPole-v1",
        attributes={"kinematics_integrator": "semi-implicit euler"},
        start=[0.03, 0.2, -0.04, -0.3],
        policy="random",
        extra_steps=2,
    ),
    # MountainCar: random actions to the time limit; pumping energy to the goal; hitting the left wall;
    # a goal velocity.
    dict(env="MountainCar-v0", start=[-0.5, 0.0], policy="random"),
    dict(env="MountainCar-v0", start=[-0.45, 0.0], policy=lambda rng, obs: 2 if obs[1] >= 0 else 0),
    dict(env="MountainCar-v0", start=[-1.15, -0.06], policy=lambda rng, obs: 2 if obs[1] >= 0 else 0),
    dict(
        env="MountainCar-v0",
        kwargs={"goal_velocity": 0.02},
        start=[-0.55, 0.01],
        policy=lambda rng, obs: 2 if obs[1] >= 0 else 0,
    ),
    # MountainCarContinuous: actions beyond [-1, 1] (clipped) to the time limit; pumping with clipped and
    # with in-range forces; the left wall.
    dict(
        env="MountainCarContinuous-v0",
        start=[-0.5, 0.0],
        policy=lambda rng, obs: [f32(rng.uniform(-1.5, 1.5))],
    ),
    dict(
        env="MountainCarContinuous-v0",
        start=[-0.55, 0.0],
        policy=lambda rng, obs: [f32(1.2 * sign(obs[1]) + rng.normal(0, 0.1))],
    ),
    dict(
        env="MountainCarContinuous-v0",
        kwargs={"goal_velocity": 0.01},
        start=[-1.1, -0.05],
        policy=lambda rng, obs: [f32(0.8 * sign(obs[1]) + rng.normal(0, 0.1))],
    ),
    # Pendulum: random torques beyond [-2, 2] (clipped); another gravity with a wound-up start angle; a
    # bang-bang torque that drives the speed into its clip.
    dict(env="Pendulum-v1", start=[2.5, 0.5], policy=lambda rng, obs: [f32(rng.uniform(-2.5, 2.5))]),
    dict(
        env="Pendulum-v1",
        kwargs={"g": 9.81},
        start=[7.0, -7.9],
        policy=lambda rng, obs: [f32(rng.uniform(-2.5, 2.5))],
    ),
    dict(env="Pendulum-v1", start=[-3.0, 7.99], policy=lambda rng, obs: [f32(2.0 * sign(obs[2]))]),
    # Acrobot: random torques to the time limit; pumping energy until the tip rises (termination); a start
    # near the angle wrap and the velocity bounds.
    dict(env="Acrobot-v1", start=[0.05, -0.03, 0.02, 0.01], policy="random"),
    dict(env="Acrobot-v1", start=[0.1, 0.0, 0.0, 0.0], policy=lambda rng, obs: 2 if obs[4] + obs[5] >= 0 else 0),
    dict(env="Acrobot-v1", start=[3.1, -3.1, 12.0, -27.0], policy="random"),
]


def run_episode(index: int, spec: dict) -> dict:
    env = gymnasium.make(spec["env"], **spec.get("kwargs", {}))
    rng = np.random.default_rng(1000 + index)
    env.reset(seed=index)
    unwrapped = env.unwrapped
    for name, value in spec.get("attributes", {}).items():
        setattr(unwrapped, name, value)
    # Acrobot's reset state is float32; the others' float64. Keep each env's dtype.
    dtype = np.float32 if spec["env"] == "Acrobot-v1" else np.float64
    start = [float(dtype(x)) for x in spec["start"]]
    unwrapped.state = np.array(start, dtype=dtype)
    obs = observe(unwrapped)

    record = dict(env=spec["env"], kwargs=spec.get("kwargs", {}), attributes=spec.get("attributes", {}))
    record.update(start_state=start, actions=[], obs=[], rewards=[], terminated=[], truncated=[])
    policy = spec["policy"]
    extra = spec.get("extra_steps", 0)
    ended_at = None
    while ended_at is None or len(record["actions"]) < ended_at + extra:
        if policy == "random":
            action = int(rng.integers(env.action_space.n))
        else:
            action = policy(rng, obs)
        env_action = np.array(action, dtype=np.float32) if isinstance(action, list) else action
        obs, reward, terminated, truncated, _ = env.step(env_action)
        record["actions"].append(action)
        record["obs"].append([f32(v) for v in obs])
        record["rewards"].append(float(reward))
        record["terminated"].append(int(terminated))
        record["truncated"].append(int(truncated))
        if (terminated or truncated) and ended_at is None:
            ended_at = len(record["actions"])
    env.close()
    return record


def observe(unwrapped) -> np.ndarray:
    """The observation of the state just set (the controllers act on it before the first step)."""
    for getter in ("_get_ob", "_get_obs"):  # Acrobot, Pendulum
        if hasattr(unwrapped, getter):
            return getattr(unwrapped, getter)()
    return np.array(unwrapped.state, dtype=np.float32)


def main() -> None:
    registrations = {}
    for env_id in sorted({spec["env"] for spec in EPISODES}):
        spec = gymnasium.spec(env_id)
        env = gymnasium.make(env_id)
        registrations[env_id] = dict(
            max_episode_steps=spec.max_episode_steps,
            reward_threshold=spec.reward_threshold,
            observation_space=dict(
                low=[f32(v) for v in env.observation_space.low],
                high=[f32(v) for v in env.observation_space.high],
            ),
            render_fps=env.metadata["render_fps"],
        )
        env.close()
    episodes = [run_episode(i, spec) for i, spec in enumerate(EPISODES)]
    data = dict(gymnasium_version=gymnasium.__version__, registrations=registrations, episodes=episodes)
    # Infinite bounds are not JSON: write them as the strings "inf" / "-inf".
    text = json.dumps(data, separators=(",", ":"), allow_nan=True)
    text = text.replace("-Infinity", '"-inf"').replace("Infinity", '"inf"')
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text + "\n")
    for i, ep in enumerate(episodes):
        end = "terminated" if any(ep["terminated"]) else "truncated" if any(ep["truncated"]) else "open"
        print(f"{i:2d} {ep['env']:26s} {len(ep['actions']):4d} steps, {end}, return {sum(ep['rewards']):.3f}")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
