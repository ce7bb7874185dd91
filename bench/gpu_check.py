"""Which installed framework can run on the GPU: never a silent CPU run.

`python -m bench gpu-check` asks each framework that is installed here what GPUs it sees
(torch first: torch._dynamo must load before tensorflow), prints one line per framework
and `can run: NAMES` (the names `--only` takes). It fails, with one line, when no
framework can run, or when one named by `--require` cannot (tox -e bench-gpu requires
both). A framework that is not installed is said to be so, not probed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from implementations.registry import FRAMEWORK_MODULES, FRAMEWORKS, framework_installed


@dataclass(frozen=True)
class FrameworkGpus:
    framework: str  # the registry's name: torch or tf
    version: str  # "" when not installed
    cuda_build: str  # the CUDA version the framework was built with, or "none"
    gpus: tuple[str, ...]  # device names it can use
    installed: bool = True
    error: str = ""  # why asking failed (the import raised), "" when it did not

    @property
    def can_run(self) -> bool:
        return self.installed and not self.error and bool(self.gpus)

    def describe(self) -> str:
        module = FRAMEWORK_MODULES[self.framework]
        if not self.installed:
            return f"{module}: not installed (pip install -e '.[{self.framework}]'): cannot run"
        if self.error:
            return f"{module}: import failed ({self.error}): cannot run"
        seen = ", ".join(self.gpus) if self.gpus else "no GPU"
        verdict = "can run" if self.can_run else "cannot run"
        return f"{module} {self.version} (CUDA build: {self.cuda_build}): {seen}: {verdict}"


def torch_gpus() -> FrameworkGpus:
    import torch
    import torch._dynamo  # before tensorflow (see the module docstring)

    names = tuple(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    build = torch.version.cuda or "none"
    if names:  # cuDNN's version is known once a GPU is there
        build += f", cuDNN {torch.backends.cudnn.version()}"
    return FrameworkGpus("torch", torch.__version__, build, names)


def tensorflow_gpus() -> FrameworkGpus:
    import tensorflow as tf

    build = tf.sysconfig.get_build_info()
    names = tuple(device.name for device in tf.config.list_physical_devices("GPU"))
    return FrameworkGpus("tf", tf.__version__, build.get("cuda_version", "none"), names)


PROBES: dict[str, Callable[[], FrameworkGpus]] = {"torch": torch_gpus, "tf": tensorflow_gpus}


def check_frameworks() -> list[FrameworkGpus]:
    """What every framework sees, in FRAMEWORKS order; missing ones are not imported."""
    seen = []
    for framework in FRAMEWORKS:
        if not framework_installed(framework):
            seen.append(FrameworkGpus(framework, "", "none", (), installed=False))
            continue
        try:
            seen.append(PROBES[framework]())
        except Exception as error:  # a broken install says why, and the others still answer
            first_line = (str(error).strip().splitlines() or [""])[0]
            detail = f"{type(error).__name__}: {first_line}"
            seen.append(FrameworkGpus(framework, "", "none", (), error=detail))
    return seen


def required_frameworks(names: str) -> tuple[str, ...]:
    """`--require torch,tf` as a tuple; an unknown name is a ValueError naming it."""
    required = tuple(name.strip() for name in names.split(",") if name.strip())
    for name in required:
        if name not in FRAMEWORKS:
            raise ValueError(
                f"--require: unknown framework {name!r}; allowed: {', '.join(FRAMEWORKS)}"
            )
    return required


def installed(seen: list[FrameworkGpus]) -> list[str]:
    """The frameworks installed here, by registry name."""
    return [entry.framework for entry in seen if entry.installed]


def runnable(seen: list[FrameworkGpus]) -> list[str]:
    """The frameworks that see a GPU, by registry name (what `--only` takes)."""
    return [entry.framework for entry in seen if entry.can_run]


def missing_gpu_reason(seen: list[FrameworkGpus], required: tuple[str, ...] = ()) -> str | None:
    """One line naming what cannot run, or None when the GPU runs can start.

    Without `required`, at least one installed framework must see a GPU; with it, every
    framework it names must.
    """
    if required:
        blocked = [entry for entry in seen if entry.framework in required and not entry.can_run]
    elif runnable(seen):
        return None
    else:
        blocked = [entry for entry in seen if entry.installed] or seen
    if not blocked:
        return None
    return (
        f"no GPU visible to {' and '.join(_blocked_name(entry) for entry in blocked)}: the "
        "GPU suite never falls back to the CPU; check the driver (nvidia-smi) and CUDA "
        "builds, or run tox -e bench on a CPU"
    )


def _blocked_name(entry: FrameworkGpus) -> str:
    module = FRAMEWORK_MODULES[entry.framework]
    if not entry.installed:
        return f"{module} (not installed)"
    if entry.error:
        return f"{module} (import failed: {entry.error})"
    return f"{module} (CUDA build: {entry.cuda_build})"
