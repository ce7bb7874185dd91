"""`python -m bench gpu-check`, `list` and `env`: what this machine and this ganbench hold."""

from __future__ import annotations

import argparse
import sys

from bench.cli.common import EXIT_BAD_INPUT
from bench.config import suite_names
from bench.datasets import DATASETS
from implementations.registry import FRAMEWORKS, framework_installed, registrations


def register(commands: argparse._SubParsersAction) -> None:
    """The `gpu-check`, `list` and `env` sub-commands."""
    gpu_check = commands.add_parser(
        "gpu-check", help="which installed framework sees a GPU; exit 2 when none can run"
    )
    gpu_check.add_argument(
        "--require",
        default="",
        help="comma-separated frameworks that must see a GPU, e.g. torch,tf (tox -e bench-gpu); "
        f"allowed: {', '.join(FRAMEWORKS)}",
    )
    gpu_check.set_defaults(handler=command_gpu_check)
    commands.add_parser(
        "list", help="registered implementations, suites and data sets"
    ).set_defaults(handler=command_list)
    commands.add_parser("env", help="library versions, devices and threads").set_defaults(
        handler=command_env
    )


def command_gpu_check(args: argparse.Namespace) -> int:
    from bench.gpu_check import (
        check_frameworks,
        installed,
        missing_gpu_reason,
        required_frameworks,
        runnable,
    )

    required = required_frameworks(args.require)
    seen = check_frameworks()
    for entry in seen:
        print(entry.describe())
    print(f"installed: {', '.join(installed(seen)) or 'none'}")
    print(f"can run: {', '.join(runnable(seen)) or 'none'}")
    reason = missing_gpu_reason(seen, required)
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
    if not framework_installed("tf"):  # a torch-only install: python -m bench run --only torch
        print("tensorflow: not installed (pip install -e '.[tf]'); tf rows cannot run here")
        return 0
    import tensorflow as tf

    print(f"tensorflow GPUs: {len(tf.config.list_physical_devices('GPU'))}")
    return 0
