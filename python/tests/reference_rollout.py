"""Expected values for test/remote: the same rollout stepped by plain gymnasium, without rlts_gym's server.

Usage: python reference_rollout.py '{"id": ..., "num_envs": N, "seed": S, "actions": [[a_0, ..., a_N-1], ...],
"kwargs": {}, "max_episode_steps": K}' where each a_i is a list (one row of the flat action buffer).
Prints JSON: the flat space sizes, the reset observations, and per step the observations after autoreset,
rewards, flags and the final observations of the envs that finished (same-step autoreset, by hand).
"""

import json
import sys

import gymnasium
import numpy as np
from gymnasium import spaces

import rlts_gym.fixtures  # noqa: F401  (registers rlts_gym/* envs)


def flat(space, obs):
    return spaces.flatten(space, obs).astype(np.float32).tolist()


def action_of_row(space, row):
    """The action of `space` in the front of `row`; a Tuple's or Dict's parts take their values in turn."""
    action, rest = take_action(space, list(row))
    assert not rest, f"{len(rest)} numbers left over for {space}"
    return action


def take_action(space, row):
    if isinstance(space, spaces.Discrete):
        return int(row[0]), row[1:]
    if isinstance(space, spaces.Tuple):
        values = []
        for part in space.spaces:
            value, row = take_action(part, row)
            values.append(value)
        return tuple(values), row
    if isinstance(space, spaces.Dict):
        values = {}
        for key, part in space.spaces.items():
            values[key], row = take_action(part, row)
        return values, row
    size = int(np.prod(space.shape))
    return np.array(row[:size], dtype=space.dtype).reshape(space.shape), row[size:]


def main(spec):
    kwargs = dict(spec.get("kwargs", {}))
    if spec.get("max_episode_steps") is not None:
        kwargs["max_episode_steps"] = spec["max_episode_steps"]
    envs = [gymnasium.make(spec["id"], **kwargs) for _ in range(spec["num_envs"])]
    obs_space, act_space = envs[0].observation_space, envs[0].action_space
    reset_obs = [flat(obs_space, env.reset(seed=spec["seed"] + i)[0]) for i, env in enumerate(envs)]
    steps = []
    for actions in spec["actions"]:
        record = {"obs": [], "reward": [], "terminated": [], "truncated": [], "final_obs": {}}
        for i, (env, row) in enumerate(zip(envs, actions)):
            obs, reward, terminated, truncated, _ = env.step(action_of_row(act_space, row))
            if terminated or truncated:
                record["final_obs"][str(i)] = flat(obs_space, obs)
                obs, _ = env.reset()
            record["obs"].append(flat(obs_space, obs))
            record["reward"].append(float(reward))
            record["terminated"].append(int(terminated))
            record["truncated"].append(int(truncated))
        steps.append(record)
    print(json.dumps({"obs_flatdim": spaces.flatdim(obs_space), "reset": reset_obs, "steps": steps}))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
