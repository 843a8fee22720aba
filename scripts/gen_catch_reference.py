"""Reference episodes of bsuite's Catch for test/envs/catch.test.ts.

Needs only bsuite, dm_env and numpy, e.g. in a throwaway venv:

    python3 -m venv /tmp/bsuite-venv
    /tmp/bsuite-venv/bin/pip install dm_env numpy && /tmp/bsuite-venv/bin/pip install --no-deps bsuite
    /tmp/bsuite-venv/bin/python scripts/gen_catch_reference.py

bsuite's package __init__ imports every experiment (and with them scikit-image, pandas, ...), so the
script registers an empty `bsuite` package pointing at the installed files and imports only
`bsuite.environments.catch`, the file under test, which itself needs only dm_env and numpy.

Every episode is `Catch(rows, columns, seed)`, reset, then stepped with a fixed action sequence until
the LAST time step. The ball's start column comes from numpy's RandomState, which the TypeScript env
does not reproduce, so it is written down (`ball_column`) together with the first observation; the
TypeScript test starts its env in the same column and replays the actions. Observations are the board
flattened row-major (rows x columns), written as the ints 0 and 1 (bsuite's float32 0.0 and 1.0).
"""

import importlib.metadata
import importlib.util
import json
import sys
import types
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "catch_reference.json"


def import_catch():
    spec = importlib.util.find_spec("bsuite")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("bsuite is not installed: pip install --no-deps bsuite (plus dm_env and numpy)")
    package = types.ModuleType("bsuite")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["bsuite"] = package
    from bsuite.environments import catch  # noqa: PLC0415 (after the stub package)

    return catch


# A policy gets (numpy generator, ball column, paddle column) and returns an action: 0 left, 1 stay, 2 right.
def track(rng, ball, paddle):
    return 1 + int(np.sign(ball - paddle))


def flee(rng, ball, paddle):
    return 1 - int(np.sign(ball - paddle)) if ball != paddle else int(rng.integers(2)) * 2


POLICIES = {
    "random": lambda rng, ball, paddle: int(rng.integers(3)),
    "left": lambda rng, ball, paddle: 0,
    "right": lambda rng, ball, paddle: 2,
    "stay": lambda rng, ball, paddle: 1,
    "track": track,
    "flee": flee,
}


def board(observation):
    """The observation flattened row-major, as 0/1 ints (it is float32 with only those two values)."""
    assert observation.dtype == np.float32 and set(np.unique(observation)) <= {0.0, 1.0}
    return [int(v) for v in observation.ravel()]


def episode(catch, rows, columns, seed, policy):
    env = catch.Catch(rows=rows, columns=columns, seed=seed)
    timestep = env.reset()
    assert timestep.first()
    rng = np.random.default_rng(seed)
    record = dict(
        kwargs=dict(rows=rows, columns=columns),
        bsuite_seed=seed,
        policy=policy,
        ball_column=int(env._ball_x),
        obs=[board(timestep.observation)],
        actions=[],
        rewards=[],
        discounts=[],
        step_types=[],
    )
    while not timestep.last():
        action = POLICIES[policy](rng, int(env._ball_x), int(env._paddle_x))
        timestep = env.step(action)
        record["actions"].append(action)
        record["obs"].append(board(timestep.observation))
        record["rewards"].append(float(timestep.reward))
        record["discounts"].append(float(timestep.discount))
        record["step_types"].append(int(timestep.step_type))
    record["paddle_column_at_end"] = int(env._paddle_x)
    return record


def main():
    catch = import_catch()
    episodes = []
    # The registered size: seeds until every start column has been seen, each with every policy.
    seen = set()
    seed = 0
    while len(seen) < 5:
        env = catch.Catch(seed=seed)
        env.reset()
        if env._ball_x not in seen:
            seen.add(int(env._ball_x))
            for policy in POLICIES:
                episodes.append(episode(catch, 10, 5, seed, policy))
        seed += 1
    # Other sizes (the kwargs), including the smallest board bsuite's termination check supports.
    for rows, columns, seeds in [(6, 3, range(3)), (12, 8, range(3)), (2, 1, range(1)), (3, 2, range(2))]:
        for s in seeds:
            for policy in ("random", "track", "flee"):
                episodes.append(episode(catch, rows, columns, 100 + s, policy))
    out = dict(
        bsuite_version=importlib.metadata.version("bsuite"),
        dm_env_version=importlib.metadata.version("dm_env"),
        numpy_version=np.__version__,
        step_types={"FIRST": 0, "MID": 1, "LAST": 2},
        observation_shape=list(catch.Catch().observation_spec().shape),
        num_actions=int(catch.Catch().action_spec().num_values),
        episodes=episodes,
    )
    OUT.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {len(episodes)} episodes to {OUT}")


if __name__ == "__main__":
    main()
