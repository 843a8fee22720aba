"""`python -m rlts_ray`: the agent between an rlts run and a Ray cluster.

rlts starts it and talks to it in JSON lines: stdin carries the run's settings (first line) and then
requests, stdout carries the replies and events. The agent connects to the cluster, reserves one bundle
per env runner in a placement group (SPREAD: each runner on another node where there are enough), and
creates the runners as actors in it on demand, with Ray's `max_restarts`. It reports each actor's
endpoint (after a restart: the new one) and each death it sees. It ends, killing every actor it made,
on `shutdown`, when its stdin closes (rlts has exited or died) and on SIGTERM/SIGINT; and were it killed
outright, Ray ends the actors of a driver that is gone.

Everything but the protocol goes to stderr (Ray's own messages too), so stdout carries JSON lines only.
"""

import json
import os
import signal
import socket
import sys
import threading
import time
import traceback

# The protocol keeps the real stdout; fd 1 (Ray's and the actors' printing) becomes stderr.
protocol = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr

write_lock = threading.Lock()


def send(message):
    with write_lock:
        try:
            protocol.write(json.dumps(message) + "\n")
            protocol.flush()
        except (BrokenPipeError, ValueError):
            pass  # rlts is gone (its stdin closing ends the agent too): nobody is left to tell


def one_line(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}"


def connect_within(timeout_s, address, init):
    """`init()` (ray.init), failing in one line when nothing answers at `address` or when it hangs: Ray
    itself keeps retrying a dead address for minutes."""
    if address != "auto":
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
        except (OSError, ValueError) as exc:
            raise RuntimeError(
                f"nothing answers at {address} ({getattr(exc, 'strerror', None) or exc}); start the cluster "
                "(`ray start --head` on its head node) or set env_runners.ray.address to its host:port"
            ) from None
    done = threading.Event()
    failure = []

    def run():
        try:
            init()
        except BaseException as exc:  # noqa: BLE001 - reported below
            failure.append(exc)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    if not done.wait(timeout_s):
        raise RuntimeError(f"no Ray cluster answered at {address} within {timeout_s:g} s")
    if failure:
        raise failure[0]


class Agent:
    def __init__(self, settings):
        import ray
        from ray.util.placement_group import placement_group

        from rlts_ray.actors import GymEnvServer, NodeEnvRunner

        self.ray = ray
        self.settings = settings
        self.count = settings["num_env_runners"]
        self.run_id = settings["run_id"]
        connect_within(
            settings["timeout_s"],
            settings["address"],
            lambda: ray.init(
                address=settings["address"],
                namespace=settings["namespace"],
                runtime_env=settings.get("runtime_env") or None,
                # The runners' output stays in the cluster's logs; what rlts needs comes back in replies.
                log_to_driver=False,
                logging_level="WARNING",
            ),
        )
        cpus = settings["num_cpus_per_env_runner"]
        self.placement = placement_group([{"CPU": cpus}] * self.count, strategy="SPREAD", name=f"rlts-{self.run_id}")
        try:
            ray.get(self.placement.ready(), timeout=settings["timeout_s"])
        except ray.exceptions.GetTimeoutError:
            available = ray.available_resources().get("CPU", 0)
            raise RuntimeError(
                f"the cluster cannot place {self.count} env runners of {cpus} CPU each within "
                f"{settings['timeout_s']} s ({available:g} CPUs available): add nodes, or lower "
                "env_runners.num_env_runners or env_runners.ray.num_cpus_per_env_runner"
            ) from None
        cls = NodeEnvRunner if settings["kind"] == "node" else GymEnvServer
        self.actor_class = ray.remote(cls)
        self.actors = {}
        self.lock = threading.Lock()

    def actor(self, index):
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        with self.lock:
            actor = self.actors.get(index)
            if actor is not None:
                return actor
            s = self.settings
            argument = s["node_command"] if s["kind"] == "node" else s["gym"]
            actor = self.actor_class.options(
                name=f"rlts-{self.run_id}-env-runner-{index}",
                num_cpus=s["num_cpus_per_env_runner"],
                max_restarts=s["max_restarts"],
                max_task_retries=0,
                max_concurrency=4,
                scheduling_strategy=PlacementGroupSchedulingStrategy(
                    placement_group=self.placement, placement_group_bundle_index=index
                ),
            ).remote(argument, s["curve_secret_key"], index)
            self.actors[index] = actor
            threading.Thread(target=self.watch, args=(index, actor), daemon=True).start()
            return actor

    def watch(self, index, actor):
        """Reports each death of actor `index`, naming the process that died (Ray restarts the actor, up
        to max_restarts, in another process, maybe on another node)."""
        ray = self.ray
        while True:
            try:
                where = self.call(index, "endpoint")
            except Exception:  # noqa: BLE001 - gone for good: the learner's own request reports why
                return
            try:
                ray.get(actor.wait_until_gone.remote())
                return
            except Exception as exc:  # noqa: BLE001 - RayActorError, or the node is lost
                send({"event": "died", "index": index, "actor_pid": where["actor_pid"], "cause": one_line(exc)})

    def call(self, index, method):
        """`method` on actor `index`, waiting while the actor is unavailable (its node is being declared
        dead, Ray is restarting it), up to the timeout."""
        ray = self.ray
        deadline = time.monotonic() + self.settings["timeout_s"]
        while True:
            try:
                remaining = max(1.0, deadline - time.monotonic())
                return ray.get(getattr(self.actor(index), method).remote(), timeout=remaining)
            except ray.exceptions.ActorUnavailableError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def handle(self, request):
        ray = self.ray
        index = request.get("index")
        try:
            if request["cmd"] == "endpoint":
                send({"id": request["id"], **self.call(index, "endpoint")})
            elif request["cmd"] == "stop_process":
                self.call(index, "stop_process")
                send({"id": request["id"]})
            else:
                send({"id": request["id"], "error": f"unknown command {request['cmd']!r}"})
        except Exception as exc:  # noqa: BLE001 - every failure is a reply
            cause = exc.cause if isinstance(exc, ray.exceptions.RayTaskError) else exc
            send({"id": request["id"], "error": f"env runner {index}: {one_line(cause)}"})

    def shutdown(self):
        ray = self.ray
        for actor in list(self.actors.values()):
            try:
                # Lets a Node env-runner process exit cleanly; the kill below ends the actor regardless.
                ray.get(actor.stop_process.remote(), timeout=5)
            except Exception:  # noqa: BLE001
                pass
            ray.kill(actor, no_restart=True)
        try:
            ray.util.remove_placement_group(self.placement)
        except Exception:  # noqa: BLE001
            pass
        ray.shutdown()


def main():
    first = sys.stdin.readline()
    if not first:
        return 0
    settings = json.loads(first)

    def stop(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    try:
        import ray  # noqa: F401
    except ImportError:
        send({"event": "error", "message": "Ray is not installed in this Python: pip install -r python/requirements-ray.txt"})
        return 2
    try:
        agent = Agent(settings)
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc()
        send({"event": "error", "message": f"cannot use the Ray cluster at {settings['address']}: {one_line(exc)}"})
        return 2
    try:
        send({"event": "ready", "nodes": [n["NodeManagerAddress"] for n in agent.ray.nodes() if n["Alive"]]})
        for line in sys.stdin:
            request = json.loads(line)
            if request.get("cmd") == "shutdown":
                break
            threading.Thread(target=agent.handle, args=(request,), daemon=True).start()
    except KeyboardInterrupt:
        pass
    finally:
        agent.shutdown()
        send({"event": "stopped"})
    return 0
