"""`python -m bench gpu-check`, `list` and `env`: what this machine and this ganbench hold."""

from __future__ import annotations

import argparse
import sys

from bench.cli.common import EXIT_BAD_INPUT
from bench.config import suite_names
from bench.datasets import DATASETS
from implementations.registry import registrations


def register(commands: argparse._SubParsersAction) -> None:
    """The `gpu-check`, `list` and `env` sub-commands."""
    commands.add_parser(
        "gpu-check", help="exit 2 unless both torch and tensorflow see a GPU (tox -e bench-gpu)"
    ).set_defaults(handler=command_gpu_check)
    commands.add_parser(
        "list", help="registered implementations, suites and data sets"
    ).set_defaults(handler=command_list)
    commands.add_parser("env", help="library versions, devices and threads").set_defaults(
        handler=command_env
    )


def command_gpu_check(args: argparse.Namespace) -> int:
    from bench.gpu_check import missing_gpu_reason, tensorflow_gpus, torch_gpus

    seen = [torch_gpus(), tensorflow_gpus()]
    for entry in seen:
        print(entry.describe())
    reason = missing_gpu_reason(seen)
    if reason is not None:
        print(f"python -m bench gpu-check: error: {reason}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def command_list(args: argparse.Namespace) -> int:
    print("implementations (variant/framework):")
    for registration in registrations():
        print(f"  {registration.variant}/{registration.framework}")
    print(f"suites: {', '.join(suite_names())}")
    print(f"data sets: {', '.join(DATASETS)} (default: digits, embedded)")
    return 0


def command_env(args: argparse.Namespace) -> int:
    import os

    from bench.provenance import cpu_name, git_commit, package_versions

    versions = package_versions(("torch", "tensorflow", "keras", "scikit-learn", "pytorch-fid"))
    for package, version in versions.items():
        print(f"{package}: {version}")
    print(f"cpu: {cpu_name()} ({os.cpu_count()} logical cores)")
    print(f"git commit: {git_commit()}")
    import torch

    print(f"torch threads: {torch.get_num_threads()}, CUDA GPUs: {torch.cuda.device_count()}")
    for index in range(torch.cuda.device_count()):
        print(f"  cuda:{index}: {torch.cuda.get_device_name(index)}")
    import tensorflow as tf

    print(f"tensorflow GPUs: {len(tf.config.list_physical_devices('GPU'))}")
    return 0
