"""The two Ray actors an rlts run places on a cluster, one per env runner.

`NodeEnvRunner` hosts a Node env-runner process (`rlts env-runner`), Ray's pattern for user-spawned
processes: the actor starts it, owns it, and it dies with the actor (the process also exits by itself
when the actor's process is gone). `GymEnvServer` serves a Gymnasium vector env from inside the actor
(the rlts_gym server). Both bind a ZeroMQ CURVE server socket on their node's address and report it;
the learner connects with the run's server key, so nothing outside the run can talk to them.

Both are threaded actors (max_concurrency > 1): `wait_until_gone` blocks for the actor's lifetime so
that the agent learns of deaths, while `endpoint` still answers.
"""

import json
import os
import select
import subprocess
import threading
import time

import ray

# How long a Node env-runner process may take to print its endpoint (importing tfjs on a busy node).
START_TIMEOUT_S = 60.0


class NodeEnvRunner:
    def __init__(self, command, curve_secret_key, index):
        self.command = list(command)
        self.curve_secret_key = curve_secret_key
        self.index = index
        self.process = None
        self.endpoint_ = None
        self.lock = threading.Lock()
        self.gone = threading.Event()

    def endpoint(self):
        """The env-runner process's endpoint, starting a fresh process if there is none or it exited."""
        with self.lock:
            if self.process is None or self.process.poll() is not None:
                self.start_process()
            return where(self.endpoint_)

    def start_process(self):
        ip = node_ip()
        env = dict(os.environ, RLTS_CURVE_SECRET_KEY=self.curve_secret_key)
        args = [*self.command, "--bind", f"tcp://{ip}:*", "--parent-pid", str(os.getpid())]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env)
        line = read_line(self.process, START_TIMEOUT_S)
        try:
            self.endpoint_ = json.loads(line)["endpoint"]
        except (ValueError, KeyError, TypeError):
            code = self.process.poll()
            self.stop_process()
            raise RuntimeError(
                f"rlts env-runner {self.index} on {ip} did not start "
                f"({'exit code ' + str(code) if code is not None else 'no endpoint line'}; command {' '.join(args)}): "
                f"its stderr is in this actor's Ray log"
            ) from None

    def stop_process(self):
        """Ends the env-runner process (the learner found it stuck); the next `endpoint` starts another."""
        with self.lock:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process = None

    def wait_until_gone(self):
        """Returns only when the actor stops (it raises RayActorError in the caller when the actor dies)."""
        self.gone.wait()


def node_ip():
    """This node's address as the cluster knows it (`ray start --node-ip-address`), not a guess from the
    default route: runners listen only where the cluster's own traffic goes."""
    node_id = ray.get_runtime_context().get_node_id()
    for node in ray.nodes():
        if node["NodeID"] == node_id:
            return node["NodeManagerAddress"]
    return ray.util.get_node_ip_address()


def where(endpoint):
    """What the agent reports of an actor: its endpoint, and its process (a restarted actor has another)."""
    return {"endpoint": endpoint, "actor_pid": os.getpid(), "node_ip": node_ip()}


def read_line(process, timeout_s):
    """The process's first stdout line, or "" if it exits or stays silent for `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    fd = process.stdout.fileno()
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return ""
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            return ""
        data += chunk
    return data.decode(errors="replace")


class GymEnvServer:
    def __init__(self, gym, curve_secret_key, index):
        import importlib

        from rlts_gym.server import GymServer, serve

        for module in gym.get("python_modules", []):
            importlib.import_module(module)
        self.server = GymServer(
            gym["id"],
            gym["num_envs"],
            gym.get("kwargs", {}),
            gym.get("max_episode_steps"),
            # The actor outlives its clients: a replaced runner's client opens the next session at once
            # (only this run's learner holds the CURVE key, so a takeover cannot come from elsewhere).
            exit_on_close=False,
            session_timeout_s=0.0,
            wrappers=gym.get("wrappers", []),
        )
        self.index = index
        self.ready = threading.Event()
        self.endpoint_ = None
        self.gone = threading.Event()
        ip = node_ip()

        def on_ready(endpoint):
            self.endpoint_ = endpoint
            self.ready.set()

        self.thread = threading.Thread(
            target=serve,
            args=(self.server, f"tcp://{ip}:*"),
            kwargs={"curve_secret_key": curve_secret_key, "on_ready": on_ready},
            daemon=True,
        )
        self.thread.start()
        if not self.ready.wait(START_TIMEOUT_S):
            raise RuntimeError(f"rlts_gym server {index} on {ip} did not bind")

    def endpoint(self):
        return where(self.endpoint_)

    def stop_process(self):
        """Nothing to end: the envs live in the actor, and the next client's `hello` resets the session."""

    def wait_until_gone(self):
        self.gone.wait()
