"""Small Gymnasium envs that exercise the bridge where CartPole cannot: structured spaces and faults.

Importing this module registers them under the `rlts_gym/` namespace; the server imports it, so
`python -m rlts_gym --env rlts_gym/DictObs-v0` works. Each env is deterministic given its reset seed,
so the TypeScript tests can compare the bridge against the same env stepped directly in Python.
"""

import time

import gymnasium
import numpy as np
from gymnasium import spaces


class DictObsEnv(gymnasium.Env):
    """A point on a plane pushed by 4 discrete moves; the observation is a Dict of several space kinds.

    Keys are given unsorted on purpose: Gymnasium sorts a plain dict's keys, and the client must follow
    the server's order. `sensors` adds a Tuple, a MultiBinary and unbounded Box bounds (JSON "inf").
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}
    MOVES = np.array([[0.25, 0.0], [-0.25, 0.0], [0.0, 0.25], [0.0, -0.25]], dtype=np.float32)

    def __init__(self, render_mode=None):
        self.render_mode = render_mode
        self.observation_space = spaces.Dict(
            {
                "position": spaces.Box(-1.0, 1.0, (2,), np.float32),
                "flag": spaces.Discrete(3, start=-1),
                "sensors": spaces.Tuple(
                    (spaces.MultiBinary(3), spaces.Box(-np.inf, np.inf, (1,), np.float64))
                ),
            }
        )
        self.action_space = spaces.Discrete(4)
        self.position = np.zeros(2, dtype=np.float32)
        self.steps = 0

    def _obs(self):
        x, y = self.position
        return {
            "position": self.position.copy(),
            "flag": int(np.sign(x)),
            "sensors": (
                np.array([x > 0, y > 0, self.steps % 2], dtype=np.int8),
                np.array([self.steps * 1.5], dtype=np.float64),
            ),
        }

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position = self.np_random.uniform(-0.5, 0.5, size=2).astype(np.float32)
        self.steps = 0
        return self._obs(), {"start": self.position.tolist()}

    def step(self, action):
        assert self.action_space.contains(action), f"DictObs-v0: invalid action {action!r}"
        self.position = np.clip(self.position + self.MOVES[int(action)], -1.0, 1.0)
        self.steps += 1
        reward = -float(np.abs(self.position).sum())
        # The episode ends at an edge, which a few identical moves reach from anywhere.
        terminated = bool(np.abs(self.position).max() >= 1.0)
        info = {"edge": True, "distance": np.float32(-reward)} if terminated else {}
        return self._obs(), reward, terminated, False, info

    def render(self):
        return f"position={self.position.tolist()} steps={self.steps}"


class RunningTotalEnv(gymnasium.Env):
    """Observes `action_numbers` values of its last action and a running total, which resets to a seeded
    integer: the base of the action-space fixtures, whose rollouts the tests compare with Python's."""

    metadata = {"render_modes": []}

    def __init__(self, action_space, action_numbers):
        self.action_space = action_space
        self.observation_space = spaces.Box(-100.0, 100.0, (action_numbers + 1,), np.float32)
        self.action_numbers = action_numbers
        self.total = 0.0
        self.steps = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.total = float(self.np_random.integers(0, 10))
        self.steps = 0
        return np.array([0.0] * self.action_numbers + [self.total], dtype=np.float32), {}


class MultiDiscreteActEnv(RunningTotalEnv):
    """Observes its last MultiDiscrete action (with a non-zero start) and a running sum; ends after 6 steps."""

    def __init__(self):
        super().__init__(spaces.MultiDiscrete([3, 5], start=[0, -2]), 2)

    def step(self, action):
        assert self.action_space.contains(action), f"MultiDiscreteAct-v0: invalid action {action!r}"
        a, b = (int(v) for v in action)
        self.total += a * b
        self.steps += 1
        obs = np.array([a, b, self.total], dtype=np.float32)
        return obs, float(a * b), self.steps >= 6, False, {}


class TupleActEnv(RunningTotalEnv):
    """A Tuple action of every kind of part: a Discrete with a start, a MultiBinary, a float Box and a
    MultiDiscrete with starts (`nested=True`: the MultiBinary and the Box in a Dict inside the Tuple).
    Observes the action it was given, flattened, and a running total; ends after 5 steps."""

    def __init__(self, nested=False):
        self.nested = nested
        choice = spaces.Discrete(3, start=-1)
        bits = spaces.MultiBinary(2)
        push = spaces.Box(-1.0, 1.0, (2,), np.float32)
        digits = spaces.MultiDiscrete([2, 3], start=[0, 1])
        parts = (choice, spaces.Dict({"bits": bits, "push": push}), digits) if nested else (choice, bits, push, digits)
        super().__init__(spaces.Tuple(parts), 7)

    def step(self, action):
        assert isinstance(action, tuple), f"TupleAct-v0: the action must be a tuple, got {action!r}"
        assert self.action_space.contains(action), f"TupleAct-v0: invalid action {action!r}"
        if self.nested:
            choice, inner, digits = action
            bits, push = inner["bits"], inner["push"]
        else:
            choice, bits, push, digits = action
        assert isinstance(choice, int), f"TupleAct-v0: the Discrete part must be an int, got {choice!r}"
        assert bits.dtype == np.int8 and push.dtype == np.float32 and digits.dtype == np.int64, action
        reward = float(choice * push[0] + bits.sum() - digits[1] + 0.5 * push[1])
        self.total += reward
        self.steps += 1
        obs = np.array([choice, *bits, *push, *digits, self.total], dtype=np.float32)
        return obs, reward, self.steps >= 5, False, {}


class RaisesEnv(gymnasium.Env):
    """Raises inside `step` once `raise_at` steps have been taken, to test error propagation."""

    def __init__(self, raise_at=3):
        self.raise_at = raise_at
        self.observation_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.steps = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.steps = 0
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        self.steps += 1
        if self.steps >= self.raise_at:
            raise ValueError(f"Raises-v0: deliberate failure at step {self.steps}")
        return np.zeros(1, dtype=np.float32), 0.0, False, False, {}


class SlowEnv(gymnasium.Env):
    """Sleeps `delay_s` seconds in every step, to test the client's request timeout."""

    def __init__(self, delay_s=1.0):
        self.delay_s = delay_s
        self.observation_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        time.sleep(self.delay_s)
        return np.asarray(action, dtype=np.float32), 0.0, False, False, {}


class MatchBitsEnv(gymnasium.Env):
    """A MultiBinary-action task to learn quickly: copy the observed bits. Each of the 10 steps shows `n`
    random bits and pays the fraction of action bits equal to them (a random policy earns 5 per episode,
    the best one 10)."""

    def __init__(self, n=4):
        self.n = n
        self.observation_space = spaces.Box(0.0, 1.0, (n,), np.float32)
        self.action_space = spaces.MultiBinary(n)
        self.bits = np.zeros(n, dtype=np.float32)

    def _draw(self):
        self.bits = self.np_random.integers(0, 2, self.n).astype(np.float32)
        return self.bits.copy()

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._draw(), {}

    def step(self, action):
        reward = float(np.mean(np.asarray(action, dtype=np.float32) == self.bits))
        return self._draw(), reward, False, False, {}


class CatchPixelsEnv(gymnasium.Env):
    """bsuite's Catch (as rlts's built-in Catch-v0) drawn in uint8 pixels, 255 at the ball and the paddle:
    a pixel env whose frames cross the bridge as bytes, and which a CNN learns in seconds."""

    def __init__(self, rows=10, columns=5, obs_dtype="uint8"):
        # obs_dtype: what the observations are drawn in, which a test sets apart from the space's uint8.
        self.rows, self.columns, self.obs_dtype = rows, columns, np.dtype(obs_dtype)
        self.observation_space = spaces.Box(0, 255, (rows, columns, 1), np.uint8)
        self.action_space = spaces.Discrete(3)
        self.ball = [0, 0]
        self.paddle = 0

    def _obs(self):
        board = np.zeros((self.rows, self.columns, 1), dtype=self.obs_dtype)
        board[self.ball[0], self.ball[1], 0] = 255
        board[self.rows - 1, self.paddle, 0] = 255
        return board

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.ball = [0, int(self.np_random.integers(self.columns))]
        self.paddle = self.columns // 2
        return self._obs(), {}

    def step(self, action):
        self.paddle = int(np.clip(self.paddle + int(action) - 1, 0, self.columns - 1))
        self.ball[0] += 1
        terminated = self.ball[0] == self.rows - 1
        reward = (1.0 if self.paddle == self.ball[1] else -1.0) if terminated else 0.0
        return self._obs(), reward, terminated, False, {}


def register_fixtures():
    """Registers the fixtures once; importing the module twice must not warn about re-registration."""
    fixtures = {
        "rlts_gym/DictObs-v0": (DictObsEnv, 50),
        "rlts_gym/MultiDiscreteAct-v0": (MultiDiscreteActEnv, None),
        "rlts_gym/TupleAct-v0": (TupleActEnv, None),
        "rlts_gym/Raises-v0": (RaisesEnv, None),
        "rlts_gym/Slow-v0": (SlowEnv, None),
        "rlts_gym/MatchBits-v0": (MatchBitsEnv, 10),
        "rlts_gym/CatchPixels-v0": (CatchPixelsEnv, None),
    }
    for env_id, (entry_point, max_episode_steps) in fixtures.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(env_id, entry_point=entry_point, max_episode_steps=max_episode_steps)


register_fixtures()
