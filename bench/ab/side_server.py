"""One side of `bench ab`: a process that trains one implementation of one revision.

    python DRIVER/bench/ab/side_server.py CHECKOUT

Started by the driver (bench/ab/side.py) with the side's checkout first on sys.path, so
`implementations` (the models and their train steps, what a revision changes) is the
side's own. This file is the driver's and imports nothing else of the driver's: the
timing loop, the batches and the FLOP counter are the same code on both sides, so only
the side's `to_device`, `train_step`, `synchronize`, `num_params`, `sample`, `classify`,
`make_spec` and registry `build` differ between A and B.

    python DRIVER/bench/ab/side_server.py CHECKOUT THREADS timing   # a timing session only

This process imports; every model lives in a child forked from it, so a crash in native
code is still answered and this process's state stays as it started: "build" forks a
child that builds and counts, "quality" one that trains and samples, "session" one that
builds, warms up and then answers "window" requests until "end". `bench ab` starts a
fresh process for every timing session (argument `timing`: no FLOP counter, no
torch._dynamo, and no torch at all for a tf side, seconds less to import): two processes
of identical code run persistently apart (5-10% here, whatever the interleaving), and
children forked from one process keep its offset (an A/A run of 12 sessions forked from
one process per side found B faster in all 12, by +1.0% to +9.7%), so only fresh
processes make sessions independent draws.

Requests and replies are JSON lines; replies go to the original stdout, which is moved
aside first so that nothing the side prints can corrupt them. Each reply has "ok"; a
failure has "kind" (PROTOCOL: this revision lacks what the driver calls; UNSUPPORTED:
the implementation does not exist there; ERROR: it raised) and a one-line "error". The
driver sends a request only after the reply to the last one, so a child and its zygote
never read the same line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

PROTOCOL_VERSION = 2
PROTOCOL, UNSUPPORTED, ERROR = "protocol", "unsupported", "error"


class SideError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class SessionEnded(BaseException):  # a BaseException: past answer()'s except
    """A session child's failure was answered already; the child only has to exit."""


class Side:
    """The built implementation, its batch stream and the timing loop."""

    def __init__(self, request: dict[str, Any]) -> None:
        import numpy as np

        data = np.load(request["data"])
        self.images, self.labels = data["train_images"], data["train_labels"]
        self.test_images = data["test_images"]
        self.request = request
        self.batch_size = int(request["batch_size"])
        self.rng = np.random.default_rng(int(request["seed"]))
        self.spec = _make_spec(request, self.images.shape[1:], int(data["num_classes"]))
        self.gan = _build(request, self.spec)

    def batches(self, steps: int, rng: Any, gan: Any = None) -> list[tuple[Any, Any, Any]]:
        """`steps` random batches, staged on the device by `gan` (outside any clock)."""
        import numpy as np

        gan = gan or self.gan
        mask = None
        if "semi" in str(getattr(self.spec, "loss", "")):
            mask = np.arange(self.batch_size) < self.batch_size // 2
        staged = []
        for _ in range(steps):
            chosen = rng.choice(len(self.images), self.batch_size, replace=False)
            staged.append(gan.to_device(self.images[chosen], self.labels[chosen], mask))
        return staged

    def window(self, steps: int) -> dict[str, Any]:
        """Time `steps` train steps: synchronised at both ends, losses read after the clock."""
        staged = self.batches(steps, self.rng)
        self.gan.synchronize()
        started = time.perf_counter()
        losses = [self.gan.train_step(*batch) for batch in staged]
        self.gan.synchronize()
        seconds = time.perf_counter() - started
        last = {name: float(value) for name, value in losses[-1].items()}
        if not all(math.isfinite(v) for v in last.values()):
            raise SideError(ERROR, f"non-finite loss after a timing window: {last}")
        return {"seconds": seconds, "steps": steps}

    def facts(self) -> dict[str, Any]:
        """Parameter counts and FLOPs per step: exact, compared exactly."""
        params = {name: int(count) for name, count in self.gan.num_params().items()}
        return {"params": params, "flops_per_step": self._flops()}

    def _flops(self) -> int | None:
        """torch's FlopCounterMode over one train_step of the side's torch twin (bench/flops.py)."""
        import numpy as np
        from torch.utils.flop_counter import FlopCounterMode

        try:
            twin = _build({**self.request, "framework": "torch"}, self.spec)
        except SideError:
            return None  # no torch twin in this revision: nothing to count on
        staged = self.batches(1, np.random.default_rng(int(self.request["seed"])), twin)[0]
        with FlopCounterMode(display=False) as counter:
            twin.train_step(*staged)
        return int(counter.get_total_flops())

    def quality(self, steps: int, samples: int, out: str) -> dict[str, Any]:
        """A fresh model, `steps` steps from the seed, then samples (and test logits) to `out`."""
        import numpy as np

        gan = _build(self.request, self.spec)
        rng = np.random.default_rng(int(self.request["seed"]))
        for _ in range(steps):
            gan.train_step(*self.batches(1, rng, gan)[0])
        gan.synchronize()
        conditional = self.spec.generator_input[0] > self.spec.latent_dim
        labels = np.arange(samples) % int(self.spec.num_classes) if conditional else None
        arrays = {"samples": gan.sample(samples, labels, seed=int(self.request["seed"]))}
        if labels is not None:
            arrays["sample_labels"] = labels
        try:
            arrays["test_logits"] = gan.classify(self.test_images)
        except Exception as error:
            if type(error).__name__ != "UnsupportedOperationError":
                raise
        np.savez(out, **arrays)
        return {"out": out}


def _make_spec(request: dict[str, Any], image_shape: Any, num_classes: int) -> Any:
    try:
        from implementations.spec import make_spec
    except ImportError as error:
        raise SideError(PROTOCOL, f"implementations.spec.make_spec: {error}") from None
    try:
        return make_spec(request["variant"], tuple(image_shape), num_classes, request["preset"])
    except ValueError as error:
        raise SideError(UNSUPPORTED, str(error)) from None


def _build(request: dict[str, Any], spec: Any) -> Any:
    try:
        from implementations import registry
        from implementations.api import BuildOptions
    except ImportError as error:
        raise SideError(PROTOCOL, f"implementations.registry/api: {error}") from None
    wanted = {"seed": int(request["seed"]), "device": "cpu", "deterministic": True}
    known = {f.name for f in dataclasses.fields(BuildOptions)}
    options = BuildOptions(**{k: v for k, v in wanted.items() if k in known})
    try:
        return registry.build(request["framework"], request["variant"], spec, options)
    except registry.UnknownImplementationError as error:
        raise SideError(UNSUPPORTED, str(error)) from None


def pin(cpus: list[int]) -> None:
    """Run every thread of this process on `cpus` only (Linux; elsewhere a no-op)."""
    if not hasattr(os, "sched_setaffinity"):
        return
    for task in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):  # a thread that has just ended
            os.sched_setaffinity(int(task), set(cpus))


def serve(replies: Any) -> None:
    """Answer requests from stdin until "quit" or end of input; each model in a child."""
    build: dict[str, Any] | None = None  # the last build request that succeeded
    for line in iter(sys.stdin.readline, ""):
        request = json.loads(line)
        op = request.get("op")
        if op == "quit":
            return
        if op == "build":
            if in_child(replies, partial(_facts, request)):
                build = request
        elif op == "session" and (request.get("build") or build):
            wanted = request.get("build") or build
            in_child(replies, partial(_session, wanted, int(request["warmup"]), replies))
        elif build is None:
            answer(replies, partial(_refuse, f"request {op!r} before build"))
        elif op == "quality":
            in_child(
                replies,
                partial(
                    _quality, build, int(request["steps"]), int(request["samples"]), request["out"]
                ),
            )
        else:
            answer(replies, partial(_refuse, f"unknown request {op!r}"))


def in_child(replies: Any, work: Callable[[], dict[str, Any]]) -> bool:
    """Run `work` in a forked child, which answers; True when the child ended cleanly.

    A child that dies without answering (a signal, a crash in native code) is answered
    for here, so the driver always gets a reply.
    """
    replies.flush()
    sys.stderr.flush()
    with warnings.catch_warnings():  # 3.12 warns of torch's one idle thread: no pool yet
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if answer(replies, work) else 3
        except SessionEnded:  # a session that answered its own failure
            code = 3
        finally:
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 3):
        message = f"side process {pid} ended with status {code} (a negative one is a signal)"
        answer(replies, lambda: _refuse(message, ERROR))
    return code == 0


def answer(replies: Any, work: Callable[[], dict[str, Any] | None]) -> bool:
    """Write work's reply (or its failure) as one JSON line; True when it succeeded."""
    try:
        reply = work()
        if reply is None:  # a session: it answered each of its requests itself
            return True
        reply["ok"] = True
    except SideError as error:
        reply = {"ok": False, "kind": error.kind, "error": str(error)}
    except Exception as error:
        traceback.print_exc(file=sys.stderr)
        first = (str(error).strip().splitlines() or [""])[0]
        reply = {"ok": False, "kind": ERROR, "error": f"{type(error).__name__}: {first}"}
    replies.write(json.dumps(reply) + "\n")
    replies.flush()
    return reply["ok"]


def _refuse(message: str, kind: str = PROTOCOL) -> dict[str, Any]:
    raise SideError(kind, message)


def _quality(request: dict[str, Any], steps: int, samples: int, out: str) -> dict[str, Any]:
    return Side(request).quality(steps, samples, out)


def _facts(request: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    side = Side(request)
    return {"build_s": time.perf_counter() - started, **side.facts()}


def _session(request: dict[str, Any], warmup_steps: int, replies: Any) -> None:
    """Build, warm up, say so; then time windows until "end". Runs in its own child."""
    started = time.perf_counter()
    holder: dict[str, Side] = {}

    def ready() -> dict[str, Any]:
        holder["side"] = Side(request)
        if warmup_steps:
            holder["side"].window(warmup_steps)
        return {"ready_s": time.perf_counter() - started, "pid": os.getpid()}

    if not answer(replies, ready):
        raise SessionEnded
    side = holder["side"]
    for line in iter(sys.stdin.readline, ""):
        request = json.loads(line)
        op = request.get("op")
        if op == "end":
            answer(replies, lambda: {})
            return None
        if op == "window":
            if request.get("cpus"):
                pin(request["cpus"])
            if not answer(replies, partial(side.window, int(request["steps"]))):
                raise SessionEnded
        else:
            answer(replies, partial(_refuse, f"request {op!r} inside a session"))
    return None


def main(checkout: str, threads: int, timing_only: bool = False) -> None:
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever the side prints goes to stderr, never into the replies
    sys.path[0] = checkout  # the side's tree, not this file's folder
    if not timing_only:
        # torch, torch._dynamo and the FLOP counter before any tensorflow a side imports: in
        # the other order importing them segfaults (the FLOP count of a tf side needs them)
        import torch
        import torch._dynamo
        import torch.utils.flop_counter

        torch.set_num_threads(threads)
    # A timing process imports only what its side's build imports (a tf side: no torch);
    # its threads are the environment's (bench.worker_env.thread_environment), as here.
    import implementations.registry

    where = os.path.dirname(os.path.abspath(implementations.registry.__file__))
    hello = {
        "ok": True,
        "protocol": PROTOCOL_VERSION,
        "implementations": where,
        "pid": os.getpid(),
    }
    replies.write(json.dumps(hello) + "\n")
    replies.flush()
    serve(replies)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3:] == ["timing"])
