"""Both frameworks must see the GPU before the GPU suite starts: never a silent CPU run.

`python -m bench gpu-check` is the first command of `tox -e bench-gpu`. It asks torch and
TensorFlow (in this order: torch._dynamo must load before tensorflow) what they see, prints
it, and returns the one-line reason when either sees no GPU.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FrameworkGpus:
    framework: str
    version: str
    cuda_build: str  # the CUDA version the framework was built with, or "none"
    gpus: tuple[str, ...]  # device names it can use

    def describe(self) -> str:
        seen = ", ".join(self.gpus) if self.gpus else "no GPU"
        return f"{self.framework} {self.version} (CUDA build: {self.cuda_build}): {seen}"


def torch_gpus() -> FrameworkGpus:
    import torch
    import torch._dynamo

    names = tuple(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    return FrameworkGpus("torch", torch.__version__, torch.version.cuda or "none", names)


def tensorflow_gpus() -> FrameworkGpus:
    import tensorflow as tf

    build = tf.sysconfig.get_build_info()
    names = tuple(device.name for device in tf.config.list_physical_devices("GPU"))
    return FrameworkGpus("tensorflow", tf.__version__, build.get("cuda_version", "none"), names)


def missing_gpu_reason(seen: list[FrameworkGpus]) -> str | None:
    """One line naming every framework that sees no GPU, or None when all see one."""
    blind = [
        f"{entry.framework} (CUDA build: {entry.cuda_build})" for entry in seen if not entry.gpus
    ]
    if not blind:
        return None
    return (
        f"no GPU visible to {' and '.join(blind)}: the GPU suite never falls back to the "
        "CPU; check the driver (nvidia-smi) and CUDA builds, or run tox -e bench on a CPU"
    )
