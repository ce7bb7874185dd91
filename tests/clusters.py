"""Real Ray and Slurm clusters for the cluster tests, every byte on loopback.

- One Ray node without a namespace: `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` makes Ray bind
  127.0.0.1 only (../shared/SCALEOUT.md).
- Several Ray nodes, or Slurm: inside a private network namespace that holds only `lo`
  (root and `ip netns` needed; elsewhere the test skips and says why).

Everything started here is stopped here: Ray by its own `ray stop` (one cluster at a
time on the machine), processes by their ids, namespaces by `ip netns del`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO_ROOT, cli_environment

RAY = str(Path(sys.executable).parent / "ray")
PLUGINS = "tests.plugins.faulty,tests.plugins.cluster"
# Ray without telemetry, and a lost node noticed in ~3 s instead of ~20 s (SCALEOUT.md)
RAY_ENVIRONMENT = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
    "RAY_health_check_timeout_ms": "1000",
}
TINY = """
dataset = "digits"
frameworks = ["torch"]
spec_preset = "tiny"
warmup_steps = 5
timing_windows = 5
eval_samples = 200
inception_fid = false
threads = 1
"""


def write_suite(folder: Path, name: str, body: str) -> Path:
    """A tiny suite file: TINY plus the test's own keys."""
    path = folder / f"{name}.toml"
    path.write_text(body + TINY)
    return path


def cluster_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = cli_environment(plugins=True)
    env["GANBENCH_PLUGINS"] = PLUGINS
    env.update(RAY_ENVIRONMENT)
    env.update(extra or {})
    return env


def namespace_unavailable() -> str | None:
    """Why a private network namespace cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root to make a private network namespace (ip netns)"
    for tool in ("ip", "nsenter"):
        if shutil.which(tool) is None:
            return f"needs {tool} (iproute2 / util-linux) for a private network namespace"
    return None


class Namespace:
    """A network namespace holding only the loopback interface (and 127.0.0.2 on it)."""

    def __init__(self, prefix: str):
        self.name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True, timeout=30)
        try:
            self.run("ip", "link", "set", "lo", "up")
            # Slurm resolves its host name with AI_ADDRCONFIG, which wants an address on lo
            # besides 127.0.0.1 (SCALEOUT.md)
            self.run("ip", "addr", "add", "127.0.0.2/32", "dev", "lo")
        except BaseException:
            self.delete()
            raise

    @property
    def enter(self) -> list[str]:
        """The command prefix that runs a program inside (nsenter leaves /sys as it is)."""
        return ["nsenter", f"--net=/run/netns/{self.name}"]

    def run(self, *command: str, env=None, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.enter, *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )

    def interfaces(self) -> list[str]:
        listing = self.run("ip", "-o", "link", "show").stdout
        return [line.split(":")[1].strip() for line in listing.splitlines()]

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False, timeout=30)


def processes() -> Iterator[tuple[int, int, str]]:
    """(pid, parent pid, command line) of every process."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        yield int(entry.name), parent, command


def ray_process_ids() -> set[int]:
    """Ray's own processes (GCS, raylets, workers) and ganbench runs started by Ray tasks."""
    markers = ("gcs_server", "/raylet", "default_worker.py", "ganbench-ray-", "ray/_private")
    return {
        pid
        for pid, _, command in processes()
        if command.startswith("ray::") or any(marker in command for marker in markers)
    }


def descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, parent, _ in processes():
        children.setdefault(parent, []).append(pid)
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def wait_until(condition, timeout_s: float, interval_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return bool(condition())


def stop_leftovers(before: set[int]) -> set[int]:
    """SIGKILL, by id, the Ray processes that appeared since `before`; returns them."""
    left = ray_process_ids() - before
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return left


class RayCluster:
    """`ray start` nodes inside a namespace, with token authentication of their own."""

    HEAD_PORT = "6390"

    def __init__(self, namespace: Namespace, folder: Path):
        self.namespace = namespace
        token = folder / "ray-token"
        token.write_text(secrets.token_hex(32))
        token.chmod(0o600)
        self.env = cluster_environment(
            {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
        )
        self.address = f"127.0.0.1:{self.HEAD_PORT}"
        self.started = False

    def start_head(self, num_cpus: int, num_gpus: int = 0) -> None:
        self.started = True
        self._ray_start(
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={self.HEAD_PORT}",
            "--include-dashboard=false",
            f"--num-cpus={num_cpus}",
            f"--num-gpus={num_gpus}",
        )

    def add_worker(self, num_cpus: int, node_manager_port: int) -> None:
        self._ray_start(
            f"--address={self.address}",
            "--dashboard-agent-listen-port=52366",
            f"--node-manager-port={node_manager_port}",
            f"--num-cpus={num_cpus}",
            "--num-gpus=0",
        )

    def _ray_start(self, *options: str) -> None:
        self.namespace.run(
            RAY,
            "start",
            *options,
            "--disable-usage-stats",
            "--object-store-memory=200000000",
            env=self.env,
            timeout=120,
        )

    def bench(self, *args: str) -> list[str]:
        """`python -m bench ARGS --executor ray --address HEAD` inside the namespace."""
        return [
            *self.namespace.enter,
            *bench(*args, "--executor", "ray", "--address", self.address),
        ]

    def stop(self) -> None:
        if self.started:
            subprocess.run(
                [*self.namespace.enter, RAY, "stop", "--force"],
                env=self.env,
                capture_output=True,
                timeout=120,
                check=False,
            )


def bench(*args: str) -> list[str]:
    """The command line of `python -m bench ARGS` in this Python."""
    return [sys.executable, "-m", "bench", *args]


def run_bench(command: list[str], env: dict[str, str], timeout_s: float):
    return subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout_s
    )


SLURM_TOOLS = ("slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel", "munged", "setpriv")


def slurm_unavailable() -> str | None:
    """Why a one-node Slurm cannot be started here, or None."""
    reason = namespace_unavailable()
    if reason:
        return reason
    missing = [tool for tool in SLURM_TOOLS if shutil.which(tool) is None]
    if missing:
        return (
            f"needs Debian's slurmctld, slurmd, slurm-client and munge ({', '.join(missing)} "
            "missing; .ci/run installs them)"
        )
    return None


SLURM_CONF = """\
ClusterName=ganbench
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
SlurmUser=root
SlurmdUser=root
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
KillWait=5
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


class SlurmCluster:
    """munged, slurmctld and slurmd of our own (one node, partition `debug`) in a namespace.

    Every daemon runs in the foreground as a child of this process, so it is stopped by
    its process id; the munge socket and key are private to this cluster.
    """

    def __init__(self, namespace: Namespace):
        import pwd

        self.namespace = namespace
        # munged runs as the munge user, who cannot enter pytest's private tmp folders
        self.folder = Path(tempfile.mkdtemp(prefix="ganbench-slurm-"))
        self.daemons: list[subprocess.Popen] = []
        munge = self.folder / "munge"
        munge.mkdir(mode=0o700)
        key = munge / "munge.key"
        key.write_bytes(secrets.token_bytes(128))
        key.chmod(0o400)
        user = pwd.getpwnam("munge")
        for path in (munge, key):
            os.chown(path, user.pw_uid, user.pw_gid)
        self.folder.chmod(0o755)
        self.munge_socket = munge / "munge.socket"
        host = socket.gethostname().split(".")[0]
        self.conf = self.folder / "slurm.conf"
        self.conf.write_text(
            SLURM_CONF.format(
                host=host, munge_socket=self.munge_socket, folder=self.folder, cpus=os.cpu_count()
            )
        )
        for name in ("state", "spool"):
            (self.folder / name).mkdir()
        self.env = cluster_environment({"SLURM_CONF": str(self.conf)})

    def start(self) -> None:
        munge = self.munge_socket.parent
        self._daemon(
            "setpriv", "--reuid=munge", "--regid=munge", "--init-groups",
            "munged", "--foreground", "--force",
            f"--socket={self.munge_socket}", f"--key-file={munge / 'munge.key'}",
            f"--pid-file={munge / 'munged.pid'}", f"--log-file={munge / 'munged.log'}",
            f"--seed-file={munge / 'munged.seed'}",
        )  # fmt: skip
        assert wait_until(self.munge_socket.exists, timeout_s=20), "munged did not start"
        self._daemon("slurmctld", "-D", "-i", "-f", str(self.conf))
        self._daemon("slurmd", "-D", "-f", str(self.conf))
        assert wait_until(lambda: self.node_state() == "idle", timeout_s=60, interval_s=0.5), (
            f"the Slurm node never became idle: {self.node_state()!r}; logs in {self.folder}"
        )

    def _daemon(self, *command: str) -> None:
        log = (self.folder / f"{command[0]}-{len(self.daemons)}.out").open("w")
        self.daemons.append(
            subprocess.Popen(
                [*self.namespace.enter, *command], env=self.env, stdout=log, stderr=log
            )
        )

    def node_state(self) -> str:
        try:
            done = self.namespace.run(
                "sinfo", "--noheader", "--format=%T", env=self.env, timeout=10
            )
        except (subprocess.SubprocessError, OSError):
            return ""
        return done.stdout.strip()

    def bench(self, *args: str) -> list[str]:
        """`python -m bench ARGS --executor slurm` inside the namespace."""
        return [*self.namespace.enter, *bench(*args, "--executor", "slurm")]

    def stop(self) -> None:
        """Cancel what is left, then stop the daemons by id, newest first."""
        if self.daemons:
            subprocess.run(
                [*self.namespace.enter, "scancel", "--partition=debug"],
                env=self.env,
                capture_output=True,
                timeout=30,
                check=False,
            )
            wait_until(lambda: not self.jobs_left(), timeout_s=30, interval_s=0.5)
        for daemon in reversed(self.daemons):
            daemon.terminate()
            try:
                daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def jobs_left(self) -> bool:
        try:
            done = self.namespace.run("squeue", "--noheader", env=self.env, timeout=10)
        except (subprocess.SubprocessError, OSError):
            return False
        return bool(done.stdout.strip())
