"""The driver's handle on one side's process (bench/ab/side_server.py).

A timing session (start_session ... end_session) is timed in a child the process forks;
`bench ab` starts a fresh process (timing_only) for each session.

The process is started with only the side's checkout on PYTHONPATH and the same thread
pinning, Python and environment as the other side; its first reply says where its
`implementations` package was imported from, which must be inside that checkout.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.worker_env import thread_environment

SERVER = Path(__file__).with_name("side_server.py")
PROTOCOL_VERSION = 2  # what this driver speaks; side_server.PROTOCOL_VERSION
PROTOCOL, UNSUPPORTED = "protocol", "unsupported"


class SideFailedError(RuntimeError):
    """A side's process answered with an error, or died; `kind` as side_server names it."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class BuildRequest:
    """What both sides build: the same implementation, data file, batch size and seed."""

    framework: str
    variant: str
    preset: str  # implementations.spec preset ("paper", "tiny")
    batch_size: int  # images per train step
    seed: int  # initial weights, noise stream and batch order
    data: str  # the .npz the driver wrote once for both sides


@dataclass(frozen=True)
class BuildFacts:
    """The exact figures one side reported after building."""

    params: dict[str, int]  # {"generator": n, "discriminator": n}
    flops_per_step: int | None  # None: this revision has no torch twin to count on
    build_s: float


class SideProcess:
    """One side process; a context manager that always ends it (and its children)."""

    def __init__(
        self, label: str, checkout: Path, threads: int, log: Path, timing_only: bool = False
    ) -> None:
        self.label = label
        self.checkout = Path(checkout).resolve()
        self.log = log  # the side's stderr: a file, so a chatty side never blocks on a pipe
        self._log_stream = open(log, "w")  # noqa: SIM115 - closed in close()
        env = {**os.environ, **thread_environment(threads), "PYTHONPATH": str(self.checkout)}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(SERVER),
                str(self.checkout),
                str(threads),
                *(["timing"] if timing_only else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_stream,
            text=True,
            env=env,
            start_new_session=True,  # a Ctrl-C reaches the driver only; it ends this
        )
        self._ready = False

    def ready(self) -> SideProcess:
        """Wait for the side's first reply (its imports done); start both, then wait for both."""
        if not self._ready:
            try:
                self._check_hello(self._reply())
            except BaseException:
                self.close()
                raise
            self._ready = True
        return self

    def _check_hello(self, hello: dict[str, Any]) -> None:
        label = self.label
        if hello.get("protocol") != PROTOCOL_VERSION:
            raise SideFailedError(PROTOCOL, f"{label}: side protocol {hello.get('protocol')!r}")
        where = Path(hello["implementations"]).resolve()
        if self.checkout not in where.parents:
            raise SideFailedError(
                PROTOCOL, f"{label}: imported implementations from {where}, not {self.checkout}"
            )

    def __enter__(self) -> SideProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def build(self, request: BuildRequest) -> BuildFacts:
        self.send_build(request)
        return self.build_facts()

    def send_build(self, request: BuildRequest) -> None:
        """Ask for the build without waiting, so that both sides build at once."""
        self.ready()
        self.send({"op": "build", **request.__dict__})

    def build_facts(self) -> BuildFacts:
        reply = self.receive()
        return BuildFacts(reply["params"], reply["flops_per_step"], reply["build_s"])

    def start_session(self, warmup_steps: int, request: BuildRequest) -> None:
        """Ask for a timing session: build `request` and warm up, without waiting, so that
        both sides start at once. `session_ready` waits."""
        self.ready()
        self.send({"op": "session", "warmup": warmup_steps, "build": request.__dict__})

    def session_ready(self) -> float:
        """Seconds the session took to fork, build and warm up."""
        return float(self.receive()["ready_s"])

    def end_session(self) -> None:
        self.ask({"op": "end"})

    def window_s(self, steps: int, cpus: list[int] | None = None) -> float:
        """Wall seconds of `steps` train steps, timed inside the side's process; pinned to
        `cpus` first (outside the clock) when given."""
        request = {"op": "window", "steps": steps, **({"cpus": cpus} if cpus else {})}
        return float(self.ask(request)["seconds"])

    def quality(self, steps: int, samples: int, out: Path) -> Path:
        self.ask({"op": "quality", "steps": steps, "samples": samples, "out": str(out)})
        return out

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        self.send(request)
        return self.receive()

    def send(self, request: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            pass  # the process died: receive() says how

    def receive(self) -> dict[str, Any]:
        reply = self._reply()
        if not reply.get("ok"):
            raise SideFailedError(reply.get("kind", "error"), f"{self.label}: {reply.get('error')}")
        return reply

    def _reply(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            tail = self.log.read_text(errors="replace").strip().splitlines()
            last = tail[-1] if tail else "no output"
            raise SideFailedError(
                "error", f"{self.label}: process ended ({self.process.returncode}): {last}"
            )
        return json.loads(line)

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self._log_stream):
            if stream is not None:
                stream.close()
