"""The rlts Gymnasium server: N copies of `gymnasium.make(id)` behind one ZeroMQ REP socket, or behind a
shared-memory file for the client that spawned it on the same machine (shm.py).

Every request is one multipart message: frame 0 a JSON header naming the command, then raw
little-endian arrays. Every reply is a JSON header listing the frames that follow (name, dtype, shape)
and the frames themselves. One `step` moves all N envs, so a vector step costs one round trip.
PROTOCOL.md at the repository root is the specification; this file is one implementation of it.
"""

import argparse
import hashlib
import hmac
import importlib
import ipaddress
import json
import math
import os
import secrets
import signal
import sys
import time
import traceback

import gymnasium
import numpy as np
import zmq
from gymnasium import spaces

from . import fixtures  # noqa: F401  (registers the rlts_gym/* test envs)
from .shm import SPIN_S, SharedMemoryTransport, ShmError

PROTOCOL_VERSION = 3
SERVER_NAME = "rlts_gym"
# How often (ms) a blocked receive wakes up to check that the parent process still lives.
PARENT_POLL_MS = 500
# A session with no request for this long may be taken over by a new client (one that died without `close`).
DEFAULT_SESSION_TIMEOUT_S = 60.0
# The largest request frame: headers are small JSON, the action frame is num_envs x columns x 4 bytes.
MIN_REQUEST_BYTES = 64 * 1024


class ProtocolError(Exception):
    """A request the server cannot serve: wrong version, unknown command, malformed frames."""


class AuthError(Exception):
    """A client without the session or the key this server asks for."""


class Shutdown(BaseException):
    """Raised by the SIGTERM/SIGINT handlers so the main loop unwinds and closes the envs.

    A BaseException, like KeyboardInterrupt, so the per-request `except Exception` cannot swallow it."""


# ---------------------------------------------------------------------------------------------------
# Spaces as JSON (the SpaceJSON type of src/envs/spaces.ts)


def json_number(x):
    """JSON has no inf/NaN: they travel as the strings "inf", "-inf", "nan"."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def space_to_json(space, path):
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "shape": list(space.shape),
            "dtype": space.dtype.name,
            "low": [json_number(v) for v in space.low.reshape(-1)],
            "high": [json_number(v) for v in space.high.reshape(-1)],
        }
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {
            "type": "MultiDiscrete",
            "nvec": [int(v) for v in space.nvec.reshape(-1)],
            "start": [int(v) for v in space.start.reshape(-1)],
            "shape": list(space.shape),
        }
    if isinstance(space, spaces.MultiBinary):
        return {"type": "MultiBinary", "shape": list(space.shape)}
    if isinstance(space, spaces.Tuple):
        return {"type": "Tuple", "spaces": [space_to_json(s, f"{path}[{i}]") for i, s in enumerate(space.spaces)]}
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": [[k, space_to_json(s, f"{path}.{k}")] for k, s in space.spaces.items()]}
    raise TypeError(
        f"{path} is {space}; rlts supports Box, Discrete, MultiDiscrete, MultiBinary, Tuple and Dict spaces"
    )


def action_reader(space, env_id):
    """Returns (columns, wire dtype, batch -> list of per-env actions) for the flat action frame.

    Discrete takes one integer (the value itself, start included), MultiDiscrete one per entry,
    MultiBinary one 0/1 per entry, Box its values in row-major order (as `actionLayout` in spaces.ts);
    Tuple and Dict their parts' columns one after another, in the parts' order, in a float32 frame.
    The whole batch is converted at once: Discrete actions become Python ints, which gymnasium checks
    fastest; the others become rows of the space's dtype and shape, and Tuple and Dict actions tuples and
    dicts of those.
    """
    if isinstance(space, (spaces.Tuple, spaces.Dict)):
        return action_columns(space, env_id), np.float32, part_reader(space)
    if isinstance(space, spaces.Discrete):
        return 1, np.int32, part_reader(space)
    if isinstance(space, (spaces.MultiDiscrete, spaces.MultiBinary, spaces.Box)):
        wire = np.float32 if isinstance(space, spaces.Box) and np.issubdtype(space.dtype, np.floating) else np.int32
        return action_columns(space, env_id), wire, part_reader(space)
    raise TypeError(
        f"{env_id}: action space {space} is not supported; use Box, Discrete, MultiDiscrete, MultiBinary, or Tuple and Dict of them"
    )


def action_parts(space):
    """A Tuple's parts, or a Dict's in its key order."""
    return list(space.spaces) if isinstance(space, spaces.Tuple) else list(space.spaces.values())


def action_columns(space, env_id):
    """Columns one action of `space` takes in the action frame."""
    if isinstance(space, (spaces.Tuple, spaces.Dict)):
        return sum(action_columns(part, env_id) for part in action_parts(space))
    if isinstance(space, spaces.Discrete):
        return 1
    if isinstance(space, (spaces.MultiDiscrete, spaces.MultiBinary, spaces.Box)):
        return int(np.prod(space.shape))
    raise TypeError(
        f"{env_id}: action space part {space} is not supported; use Box, Discrete, MultiDiscrete, MultiBinary, or Tuple and Dict of them"
    )


def part_reader(space):
    """batch ([N, columns] of the space's columns) -> list of N actions of `space`."""
    if isinstance(space, spaces.Discrete):
        # int32 (a Discrete action space) or float32 (a Discrete part of a Tuple or Dict) columns.
        return lambda batch: (batch[:, 0] if batch.dtype == np.int32 else batch[:, 0].astype(np.int64)).tolist()
    if isinstance(space, (spaces.Tuple, spaces.Dict)):
        parts = action_parts(space)
        readers = [part_reader(part) for part in parts]
        bounds = np.cumsum([0] + [action_columns(part, "") for part in parts])

        def read(batch):
            columns = [reader(batch[:, a:b]) for reader, a, b in zip(readers, bounds[:-1], bounds[1:])]
            if isinstance(space, spaces.Tuple):
                return [tuple(values) for values in zip(*columns)]
            return [dict(zip(space.spaces.keys(), values)) for values in zip(*columns)]

        return read
    return lambda batch: list(batch.astype(space.dtype).reshape(len(batch), *space.shape))


def integer_action_bounds(space, columns):
    """Per-column [low, high] of integer actions, checked for the whole batch at once before stepping.

    A Tuple's or Dict's columns: its Discrete, MultiDiscrete and MultiBinary parts' bounds, (-inf, inf)
    for Box parts."""
    if isinstance(space, spaces.Discrete):
        return np.array([space.start]), np.array([space.start + space.n - 1])
    if isinstance(space, spaces.MultiDiscrete):
        start = space.start.reshape(-1)
        return start, start + space.nvec.reshape(-1) - 1
    if isinstance(space, spaces.MultiBinary):
        return np.zeros(columns), np.ones(columns)
    if isinstance(space, (spaces.Tuple, spaces.Dict)):
        lows, highs = [], []
        for part in action_parts(space):
            n = action_columns(part, "")
            bounds = integer_action_bounds(part, n)
            lows.append(bounds[0] if bounds is not None else np.full(n, -np.inf))
            highs.append(bounds[1] if bounds is not None else np.full(n, np.inf))
        return np.concatenate(lows).astype(np.float64), np.concatenate(highs).astype(np.float64)
    return None


def integer_action_columns(space):
    """Which columns of a Tuple's or Dict's float32 frame must hold whole numbers (every part but a float
    Box's); None for other spaces, whose integer actions travel as int32."""
    if not isinstance(space, (spaces.Tuple, spaces.Dict)):
        return None

    def mask(part):
        if isinstance(part, (spaces.Tuple, spaces.Dict)):
            return np.concatenate([mask(p) for p in action_parts(part)])
        floating = isinstance(part, spaces.Box) and np.issubdtype(part.dtype, np.floating)
        return np.full(action_columns(part, ""), not floating)

    columns = mask(space)
    return columns if columns.any() else None


def observation_wire_dtype(space):
    """uint8 for uint8 and bool Boxes (image frames cross as bytes, a quarter of float32's), else float32."""
    if isinstance(space, spaces.Box) and space.dtype in (np.uint8, np.bool_):
        return np.dtype(np.uint8)
    return np.dtype(np.float32)


def observation_flattener(space):
    """Writes `gymnasium.spaces.flatten(space, obs)` into row `i` of a [rows, flat dim] array of the wire
    dtype; a Box skips the generic dispatch."""
    if isinstance(space, spaces.Box):
        byte_frames = observation_wire_dtype(space) == np.uint8
        flat = len(space.shape) == 1

        def flatten_box(obs, target, i):
            # Bytes on the wire hold only the space's own dtype: numpy would wrap 256 to 0 and cut 0.5 to 0.
            if byte_frames and np.asarray(obs).dtype != space.dtype:
                raise ValueError(f"observation dtype {np.asarray(obs).dtype} is not the observation space's {space.dtype}")
            target[i] = obs if flat else np.reshape(obs, -1)

        return flatten_box

    def flatten_any(obs, target, i):
        target[i] = spaces.flatten(space, obs)

    return flatten_any


# ---------------------------------------------------------------------------------------------------
# Infos as small JSON


def jsonable(x):
    """Converts an info value to JSON: numpy scalars/arrays to numbers/lists, non-finite floats to strings."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return json_number(x)
    if x is None or isinstance(x, str):
        return x
    return repr(x)


def error_reply(exc):
    """The error reply: the exception, its traceback, where it was raised (the innermost frame) and, for an
    env's own failure, which sub-env raised it."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{os.path.basename(frames[-1].filename)}:{frames[-1].lineno} in {frames[-1].name}" if frames else None
    error = {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": traceback.format_exc(),
        "where": where,
        "sub_env": getattr(exc, "rlts_sub_env", None),
    }
    return [json.dumps({"error": error}).encode()]


def in_sub_env(i, call, *args, **kwargs):
    """`call(*args, **kwargs)` for sub-env `i`; an exception it raises is tagged with `i` for the error reply."""
    try:
        return call(*args, **kwargs)
    except Exception as exc:
        exc.rlts_sub_env = i
        raise


# ---------------------------------------------------------------------------------------------------
# The server


def wrap(env, wrappers):
    """`env` inside `gymnasium.wrappers.<name>(env, **kwargs)` for each `{name, kwargs}`, first to last."""
    for i, spec in enumerate(wrappers):
        name = spec.get("name") if isinstance(spec, dict) else None
        wrapper = getattr(gymnasium.wrappers, name, None) if isinstance(name, str) else None
        if wrapper is None or not isinstance(wrapper, type):
            raise ValueError(f"--wrappers[{i}]: {json.dumps(spec)} does not name a class in gymnasium.wrappers")
        env = wrapper(env, **spec.get("kwargs", {}))
    return env


class GymServer:
    """The envs and one client session at a time.

    `hello` opens a session (refused while another client's session is active and not idle for
    `session_timeout_s`); every later request names it. With a `key`, the session only starts serving once
    the client has answered `hello`'s challenge with HMAC-SHA256(key, challenge) in `auth`. `close` ends
    the session; the server itself ends then only if `exit_on_close` (a server rlts spawned for itself)."""

    def __init__(
        self,
        env_id,
        num_envs,
        kwargs,
        max_episode_steps,
        key=None,
        exit_on_close=True,
        session_timeout_s=DEFAULT_SESSION_TIMEOUT_S,
        wrappers=(),
    ):
        if num_envs < 1:
            raise ValueError(f"--num-envs must be >= 1, got {num_envs}")
        self.key = key
        self.exit_on_close = exit_on_close
        self.session_timeout_s = session_timeout_s
        self.session = None
        self.authenticated = False
        self.challenge = None
        self.last_request = 0.0
        self.env_id = env_id
        make_kwargs = dict(kwargs)
        if max_episode_steps is not None:
            make_kwargs["max_episode_steps"] = max_episode_steps
        self.envs = [wrap(gymnasium.make(env_id, **make_kwargs), wrappers) for _ in range(num_envs)]
        first = self.envs[0]
        self.observation_space = first.observation_space
        self.action_space = first.action_space
        self.spec_json = {
            "id": env_id,
            "num_envs": num_envs,
            "observation_space": space_to_json(self.observation_space, f"{env_id} observation space"),
            "action_space": space_to_json(self.action_space, f"{env_id} action space"),
            "max_episode_steps": first.spec.max_episode_steps if first.spec else None,
            "reward_threshold": first.spec.reward_threshold if first.spec else None,
            "reward_range": [json_number(v) for v in getattr(first.unwrapped, "reward_range", (-math.inf, math.inf))],
            "render_mode": first.render_mode,
            "metadata": {
                "render_modes": list(first.metadata.get("render_modes", [])),
                "render_fps": first.metadata.get("render_fps"),
            },
        }
        self.obs_dim = spaces.flatdim(self.observation_space)
        self.flatten_obs = observation_flattener(self.observation_space)
        self.obs_wire = observation_wire_dtype(self.observation_space)
        self.action_columns, self.action_dtype, self.actions_of_batch = action_reader(self.action_space, env_id)
        self.action_bounds = integer_action_bounds(self.action_space, self.action_columns)
        self.integer_columns = integer_action_columns(self.action_space)
        # Reply buffers, reused every step (pyzmq copies frames this small when it sends them).
        self.obs = np.zeros((num_envs, self.obs_dim), dtype=self.obs_wire)
        self.rewards = np.zeros(num_envs, dtype=np.float64)
        self.terminated = np.zeros(num_envs, dtype=np.uint8)
        self.truncated = np.zeros(num_envs, dtype=np.uint8)
        self.frame_obs = {"name": "obs", "dtype": self.obs_wire.name, "shape": [num_envs, self.obs_dim]}
        self.frames_step = [
            self.frame_obs,
            {"name": "reward", "dtype": "float64", "shape": [num_envs]},
            {"name": "terminated", "dtype": "uint8", "shape": [num_envs]},
            {"name": "truncated", "dtype": "uint8", "shape": [num_envs]},
        ]
        # The final observations of the envs that finished in a step, in their order.
        self.final_obs = np.zeros((num_envs, self.obs_dim), dtype=self.obs_wire)
        self.step_rewards = [0.0] * num_envs
        self.step_terminated = [False] * num_envs
        self.step_truncated = [False] * num_envs
        # Headers of step replies without infos, by the number of finished envs (most steps: none).
        self.step_headers = {}
        self.float_actions = np.issubdtype(np.dtype(self.action_dtype), np.floating)
        self.closed = False

    @property
    def max_request_bytes(self):
        """The request size limit: room for the action frame at 8 bytes a value, and never under 64 KiB."""
        return max(MIN_REQUEST_BYTES, 8 * self.num_envs * self.action_columns)

    @property
    def max_reply_bytes(self):
        """The shm transport's first reply area: a step's frames with every env finished, and room for
        headers and infos (a larger reply grows the area)."""
        obs_bytes = self.num_envs * self.obs_dim * self.obs_wire.itemsize
        return 2 * obs_bytes + 10 * self.num_envs + 64 * 1024

    @property
    def num_envs(self):
        return len(self.envs)

    def handle(self, message):
        """One request -> one reply (a list of frames). Env exceptions become error replies."""
        try:
            header = json.loads(message[0])
            if not isinstance(header, dict):
                raise ProtocolError("frame 0 must be a JSON object")
            version = header.get("protocol")
            if version != PROTOCOL_VERSION:
                raise ProtocolError(
                    f"protocol mismatch: the client speaks rlts_gym protocol {version}, "
                    f"this server speaks protocol {PROTOCOL_VERSION}; use matching versions of rlts and rlts_gym"
                )
            cmd = header.get("cmd")
            if cmd == "hello":
                return self.hello()
            self.check_session(header, cmd)
            if cmd == "auth":
                return self.auth(header)
            if cmd == "close":
                # Allowed before auth: a client that cannot authenticate still ends its session.
                self.session = None
                if self.exit_on_close and (self.key is None or self.authenticated):
                    self.close()
                return self.reply({"closed": True})
            if self.key is not None and not self.authenticated:
                raise AuthError(f"{cmd}: authenticate first (this server needs its key: auth after hello)")
            self.last_request = time.monotonic()
            if cmd == "step":
                return self.step(header, message[1:])
            if cmd == "reset":
                return self.reset(header)
            if cmd == "spec":
                return self.reply(self.spec_json)
            if cmd == "render":
                return self.render()
            raise ProtocolError(f"unknown command {cmd!r}; expected hello, auth, spec, reset, step, render or close")
        except Exception as exc:  # every failure goes back to the client, the server keeps serving
            return error_reply(exc)

    def hello(self):
        """Opens a session, unless another client's is active: one client at a time, its envs its own."""
        now = time.monotonic()
        if self.session is not None and now - self.last_request < self.session_timeout_s:
            raise AuthError(
                f"busy: this server serves another client (its last request was {now - self.last_request:.1f} s ago; "
                f"a session idle for {self.session_timeout_s:g} s may be taken over)"
            )
        self.session = secrets.token_hex(16)
        self.authenticated = self.key is None
        self.challenge = None if self.key is None else secrets.token_hex(16)
        self.last_request = now
        fields = {"server": SERVER_NAME, "protocol": PROTOCOL_VERSION, "env_id": self.env_id, "session": self.session}
        if self.challenge is not None:
            fields["challenge"] = self.challenge
        return self.reply(fields)

    def check_session(self, header, cmd):
        if self.session is None:
            raise AuthError(f"{cmd}: no session; send hello first")
        given = header.get("session")
        if not isinstance(given, str) or not hmac.compare_digest(given, self.session):
            raise AuthError(f"{cmd}: not this server's current session (another client is served; send hello to start one)")

    def auth(self, header):
        if self.key is None or self.challenge is None:
            raise AuthError("auth: this server takes no key")
        expected = hmac.new(self.key, self.challenge.encode(), hashlib.sha256).hexdigest()
        proof = header.get("proof")
        # One answer per challenge: a wrong one ends the session.
        self.challenge = None
        if not isinstance(proof, str) or not hmac.compare_digest(proof, expected):
            self.session = None
            raise AuthError("auth: wrong key (HMAC-SHA256 of the challenge does not match this server's key)")
        self.authenticated = True
        self.last_request = time.monotonic()
        return self.reply({"authenticated": True})

    @staticmethod
    def reply(header, frames=(), arrays=()):
        return [json.dumps({**header, "frames": list(frames)}).encode(), *arrays]

    def reset(self, header):
        seed = header.get("seed")
        options = header.get("options")
        # Checked before any env is touched: a bad seed must not leave some envs reset and others not.
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ProtocolError(f"reset: seed must be a non-negative integer or null, got {json.dumps(seed)}")
        if options is not None and not isinstance(options, dict):
            raise ProtocolError(f"reset: options must be an object or null, got {json.dumps(options)}")
        infos = {}
        for i, env in enumerate(self.envs):
            obs, info = in_sub_env(i, env.reset, seed=None if seed is None else seed + i, options=options)
            self.flatten_obs(obs, self.obs, i)
            if info:
                infos[str(i)] = jsonable(info)
        return self.reply({"infos": infos}, [self.frame_obs], [self.obs])

    def decode_actions(self, frames):
        if len(frames) != 1:
            raise ProtocolError(f"step expects 1 action frame, got {len(frames)}")
        wire = np.dtype(self.action_dtype)
        expected = self.num_envs * self.action_columns * wire.itemsize
        if len(frames[0]) != expected:
            raise ProtocolError(
                f"{self.env_id}: action frame has {len(frames[0])} bytes, expected {expected} "
                f"({self.num_envs} envs x {self.action_columns} {wire.name})"
            )
        actions = np.frombuffer(frames[0], dtype=wire.newbyteorder("<")).reshape(self.num_envs, -1)
        if self.float_actions and not np.isfinite(actions).all():
            i = int(np.argwhere(~np.isfinite(actions))[0][0])
            raise ValueError(f"{self.env_id}: action {actions[i].tolist()} of sub-env {i} is not finite")
        if self.integer_columns is not None:
            part = actions[:, self.integer_columns]
            fractional = part != np.floor(part)
            if fractional.any():
                i = int(np.argwhere(fractional)[0][0])
                raise ValueError(f"{self.env_id}: action {actions[i].tolist()} of sub-env {i} is not in {self.action_space}")
        if self.action_bounds is not None:
            low, high = self.action_bounds
            outside = (actions < low) | (actions > high)
            if outside.any():
                i = int(np.argwhere(outside)[0][0])
                raise ValueError(f"{self.env_id}: action {actions[i].tolist()} of sub-env {i} is not in {self.action_space}")
        return actions

    def step(self, header, frames):
        actions = self.decode_actions(frames)
        # The single remote env (RemoteEnv) turns autoreset off to keep Gymnasium's single-env semantics.
        autoreset = header.get("autoreset", True)
        infos = {}
        finished = 0
        # Python lists, copied into the reply's arrays once: cheaper than a numpy store per env.
        rewards, terminations, truncations = self.step_rewards, self.step_terminated, self.step_truncated
        for i, (env, action) in enumerate(zip(self.envs, self.actions_of_batch(actions))):
            obs, reward, terminated, truncated, info = in_sub_env(i, env.step, action)
            rewards[i] = reward
            terminations[i] = terminated
            truncations[i] = truncated
            if (terminated or truncated) and autoreset:
                # Same-step autoreset: the final obs goes in its own frame, the reset obs in the obs frame.
                self.flatten_obs(obs, self.final_obs, finished)
                finished += 1
                obs, reset_info = in_sub_env(i, env.reset)
                if reset_info:
                    info = {**info, "reset_info": reset_info}
            self.flatten_obs(obs, self.obs, i)
            if info:
                infos[str(i)] = jsonable(info)
        self.rewards[:] = rewards
        self.terminated[:] = terminations
        self.truncated[:] = truncations
        arrays = [self.obs, self.rewards, self.terminated, self.truncated]
        if finished:
            arrays.append(self.final_obs[:finished])
        if infos:
            frames_out = self.frames_step
            if finished:
                frames_out = [*frames_out, self.final_obs_frame(finished)]
            return self.reply({"infos": infos}, frames_out, arrays)
        # Without infos, the header depends only on how many envs finished: made once for each count.
        step_header = self.step_headers.get(finished)
        if step_header is None:
            frames_out = [*self.frames_step, self.final_obs_frame(finished)] if finished else self.frames_step
            step_header = self.step_headers[finished] = json.dumps({"frames": frames_out}).encode()
        return [step_header, *arrays]

    def final_obs_frame(self, rows):
        return {"name": "final_obs", "dtype": self.obs_wire.name, "shape": [rows, self.obs_dim]}

    def render(self):
        renders = [env.render() for env in self.envs]
        if all(r is None for r in renders):
            return self.reply({"render": None})
        if all(isinstance(r, str) for r in renders):
            return self.reply({"render": "text", "text": renders})
        if all(isinstance(r, np.ndarray) and r.dtype == np.uint8 and r.ndim == 3 for r in renders):
            images = np.ascontiguousarray(np.stack(renders))
            frame = {"name": "rgb", "dtype": "uint8", "shape": list(images.shape)}
            return self.reply({"render": "rgb_array"}, [frame], [images])
        kinds = sorted({type(r).__name__ for r in renders})
        raise TypeError(f"{self.env_id}: render() returned {kinds}; rlts handles None, str and uint8 [H, W, 3] images")

    def close(self):
        if not self.closed:
            self.closed = True
            for env in self.envs:
                env.close()


def parent_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def receive(socket):
    """The next request. Spins for up to SPIN_S before blocking: a training client sends the next step
    within microseconds, and a process that sleeps between steps wakes on a cold core (measured: a
    64-env CartPole step took 2.5x longer in the blocking server than in a hot loop)."""
    deadline = time.perf_counter() + SPIN_S
    while time.perf_counter() < deadline:
        try:
            return socket.recv_multipart(flags=zmq.NOBLOCK, copy=True)
        except zmq.Again:
            # Hot, but not greedy: another runnable process on this core (the client) goes first.
            os.sched_yield()
    return socket.recv_multipart(copy=True)


class ZmqTransport:
    """A REP socket on a tcp:// or ipc:// endpoint. With `curve_secret_key` (Z85) it is a CURVE server:
    only clients that know its public key can connect (rlts_ray)."""

    def __init__(self, bind, max_request_bytes, curve_secret_key=None):
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.REP)
        self.socket.linger = 0
        self.endpoint = None
        try:
            if curve_secret_key is not None:
                self.socket.curve_server = True
                self.socket.curve_secretkey = curve_secret_key.encode()
            self.socket.rcvtimeo = PARENT_POLL_MS
            # A larger frame disconnects its sender before it is read (ZMQ_MAXMSGSIZE).
            self.socket.setsockopt(zmq.MAXMSGSIZE, max_request_bytes)
            self.socket.bind(bind)
            self.endpoint = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        except BaseException:
            self.close()
            raise

    def receive(self):
        """The next request's frames, or None after PARENT_POLL_MS without one."""
        try:
            return receive(self.socket)
        except zmq.Again:
            return None

    def send(self, frames):
        self.socket.send_multipart(frames, copy=False)

    def close(self):
        self.socket.close(linger=0)
        self.context.term()
        if self.endpoint and self.endpoint.startswith("ipc://"):
            path = self.endpoint[len("ipc://") :]
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            # rlts makes a folder of its own (rlts-gym-*) for each server's socket; a client that died
            # cannot remove it, so the server does, on every way out.
            folder = os.path.dirname(path)
            if os.path.basename(folder).startswith("rlts-gym-"):
                try:
                    os.rmdir(folder)
                except OSError:
                    pass


class ShmTransport:
    """The shm:// transport (rlts_gym/shm.py) for a client on this machine: requests and replies through a
    file in /dev/shm that both processes map, the same messages as over ZeroMQ."""

    def __init__(self, bind, server):
        self.shm = SharedMemoryTransport(
            bind[len("shm://") :], request_bytes=server.max_request_bytes, reply_bytes=server.max_reply_bytes
        )
        self.endpoint = self.shm.endpoint

    def receive(self):
        try:
            return self.shm.receive(PARENT_POLL_MS)
        except ShmError as exc:
            # A message the server cannot read gets an error reply at once: its client waits for one.
            self.shm.send(error_reply(exc))
            return None

    def send(self, frames):
        try:
            self.shm.send(frames)
        except ShmError as exc:  # a reply too large for the file
            self.shm.send(error_reply(exc))

    def close(self):
        self.shm.close()


def print_ready(endpoint):
    # The client waits for this line before it connects (and reads the port when binding to tcp://…:*).
    print(f"RLTS_GYM_READY {endpoint}", flush=True)


def serve(server, bind, parent_pid=None, curve_secret_key=None, on_ready=print_ready):
    """Answers requests until `close`, a signal, or the death of `parent_pid`, over ZeroMQ (tcp://, ipc://)
    or shared memory (shm://, a file path in /dev/shm). See ZmqTransport for `curve_secret_key`."""
    transport = None
    try:
        if bind.startswith("shm://"):
            transport = ShmTransport(bind, server)
        else:
            transport = ZmqTransport(bind, server.max_request_bytes, curve_secret_key)
        on_ready(transport.endpoint)
        while not server.closed:
            message = transport.receive()
            if message is None:
                if parent_pid is not None and not parent_alive(parent_pid):
                    print(f"rlts_gym: parent process {parent_pid} is gone, exiting", file=sys.stderr)
                    break
                continue
            transport.send(server.handle(message))
    except Shutdown:
        pass
    finally:
        server.close()
        if transport is not None:
            transport.close()


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m rlts_gym", description="Serves Gymnasium envs to rlts over ZeroMQ or shared memory."
    )
    parser.add_argument("--env", required=True, help="Gymnasium env id, e.g. CartPole-v1")
    parser.add_argument("--kwargs", default="{}", help="JSON object passed to gymnasium.make")
    parser.add_argument("--num-envs", type=int, default=1, help="number of env copies stepped per request")
    parser.add_argument(
        "--bind",
        required=True,
        help="tcp://127.0.0.1:PORT (PORT may be *), ipc:///path, or shm:///dev/shm/NAME (a file this server makes)",
    )
    parser.add_argument("--max-episode-steps", type=int, default=None, help="overrides the registered limit")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when this process dies (and on close)")
    parser.add_argument(
        "--key-file",
        default=None,
        help="file holding a shared key: clients must prove they know it (HMAC-SHA256 challenge) before any request",
    )
    parser.add_argument(
        "--module",
        action="append",
        default=[],
        help="Python module to import before making the env (one that calls gymnasium.register); repeatable",
    )
    parser.add_argument(
        "--wrappers",
        default="[]",
        help='JSON list of gymnasium.wrappers applied in order: [{"name": "FrameStackObservation", "kwargs": {"stack_size": 4}}]',
    )
    parser.add_argument(
        "--session-timeout",
        type=float,
        default=DEFAULT_SESSION_TIMEOUT_S,
        help="seconds without a request after which another client may take over the session",
    )
    args = parser.parse_args(argv)

    def json_argument(flag, text, kind, what):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            parser.error(f"{flag} is not valid JSON: {exc}")
        if not isinstance(value, kind):
            parser.error(f"{flag} must be a JSON {what}, got {value!r}")
        return value

    args.kwargs = json_argument("--kwargs", args.kwargs, dict, "object")
    args.wrappers = json_argument("--wrappers", args.wrappers, list, "list")
    args.key = None
    if args.key_file is not None:
        try:
            with open(args.key_file, "rb") as f:
                args.key = f.read().strip()
        except OSError as exc:
            parser.error(f"--key-file {args.key_file}: {exc.strerror}")
        if len(args.key) < 16:
            parser.error(f"--key-file {args.key_file}: the key must be at least 16 bytes")
    if args.bind.startswith("shm://") and args.parent_pid is None:
        # The file is unlinked once its one client has mapped it: nobody else could ever connect.
        parser.error("--bind shm://… serves the process that spawned the server: give --parent-pid")
    if args.key is None and not is_local_endpoint(args.bind):
        parser.error(
            f"--bind {args.bind} listens beyond this machine: give --key-file (a shared key clients must know), "
            "or bind to 127.0.0.1 or an ipc:// path"
        )
    return args


def is_local_endpoint(endpoint):
    """ipc://, shm://, or tcp:// on a loopback address: reachable from this machine only."""
    if endpoint.startswith(("ipc://", "shm://")):
        return True
    if not endpoint.startswith("tcp://"):
        return False
    host = endpoint[len("tcp://") :].rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # "*", an interface name or a host name: all may reach beyond loopback
        return False


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)

    def shutdown(signum, _frame):
        raise Shutdown(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    try:
        for module in args.module:
            importlib.import_module(module)
        server = GymServer(
            args.env,
            args.num_envs,
            args.kwargs,
            args.max_episode_steps,
            key=args.key,
            # A server rlts spawned for itself ends with its client; one started by hand serves the next.
            exit_on_close=args.parent_pid is not None,
            session_timeout_s=args.session_timeout,
            wrappers=args.wrappers,
        )
    except Shutdown:
        return 0
    except Exception as exc:
        traceback.print_exc()
        # The last stderr line is what the TypeScript client quotes when the server dies at startup.
        print(f"rlts_gym: cannot make {args.env!r}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    try:
        serve(server, args.bind, args.parent_pid)
    except ShmError as exc:  # a full /dev/shm: the file cannot be made
        print(f"rlts_gym: cannot serve on {args.bind}: {exc}", file=sys.stderr)
        return 2
    return 0
