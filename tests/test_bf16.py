"""precision = "bf16" is bf16 arithmetic, seen inside the training step, in both frameworks.

torch: forward hooks on every Linear / Conv / ConvTranspose module record the dtype each
one produced during one train_step (autocast makes them bf16). tf: the traced train_step's
graph is read op by op; every MatMul and convolution, forward and backward, must output
bfloat16 (Keras's mixed_bfloat16 policy). The fp32 build must show float32 in the same
places, so a bf16 setting that were silently ignored fails here. And bf16 samples differ
from fp32 samples of the same weights by far more than fp32 rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from implementations import registry
from implementations.api import BuildOptions
from implementations.spec import make_spec

MATMUL_OPS = {
    "MatMul",
    "BatchMatMulV2",
    "Conv2D",
    "Conv2DBackpropInput",
    "Conv2DBackpropFilter",
}
VARIANTS = ["dcgan", "ssgan"]  # convolutions, dense layers, BatchNorm; ssgan's own step


def build(framework: str, variant: str, precision: str, digits):
    spec = make_spec(variant, digits.image_shape, digits.num_classes, "tiny")
    return registry.build(framework, variant, spec, BuildOptions(seed=0, precision=precision))


def staged_batch(gan, digits):
    mask = np.arange(32) < 16
    return gan.to_device(digits.train_images[:32], digits.train_labels[:32], mask)


def torch_step_output_dtypes(gan, digits) -> dict[str, set[torch.dtype]]:
    """Module name -> the dtypes its outputs had during one train_step."""
    seen: dict[str, set[torch.dtype]] = {}
    handles = []
    for network_name, network in (
        ("generator", gan.generator),
        ("discriminator", gan.discriminator),
    ):
        for name, module in network.layers.items():
            if isinstance(module, nn.Linear | nn.Conv2d | nn.ConvTranspose2d):
                key = f"{network_name}.{name}"

                def record(_module, _inputs, output, key=key):
                    seen.setdefault(key, set()).add(output.dtype)

                handles.append(module.register_forward_hook(record))
    try:
        gan.train_step(*staged_batch(gan, digits))
    finally:
        for handle in handles:
            handle.remove()
    return seen


def tf_step_output_dtypes(gan, digits) -> dict[str, set[str]]:
    """Op type -> the dtypes of its outputs in the traced train_step graph."""
    staged = staged_batch(gan, digits)
    gan.train_step(*staged)
    graph = gan.compiled_step.get_concrete_function(*staged).graph
    seen: dict[str, set[str]] = {}
    for op in graph.get_operations():
        if op.type in MATMUL_OPS:
            seen.setdefault(op.type, set()).add(op.outputs[0].dtype.name)
    return seen


@pytest.mark.parametrize("variant", VARIANTS)
def test_torch_bf16_step_computes_every_matmul_and_convolution_in_bf16(variant, digits):
    bf16 = torch_step_output_dtypes(build("torch", variant, "bf16", digits), digits)
    fp32 = torch_step_output_dtypes(build("torch", variant, "fp32", digits), digits)
    assert bf16.keys() == fp32.keys() and len(bf16) >= 4
    assert all(dtypes == {torch.bfloat16} for dtypes in bf16.values()), bf16
    assert all(dtypes == {torch.float32} for dtypes in fp32.values()), fp32


@pytest.mark.parametrize("variant", VARIANTS)
def test_tf_bf16_step_computes_every_matmul_and_convolution_in_bf16(variant, digits):
    gan = build("tf", variant, "bf16", digits)
    assert {
        m.compute_dtype for net in (gan.generator, gan.discriminator) for m in net.layers.values()
    } == {"bfloat16"}
    bf16 = tf_step_output_dtypes(gan, digits)
    fp32 = tf_step_output_dtypes(build("tf", variant, "fp32", digits), digits)
    expected = {"MatMul"} | (
        {"Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"} if variant == "dcgan" else set()
    )
    assert bf16.keys() == fp32.keys() == expected
    assert all(dtypes == {"bfloat16"} for dtypes in bf16.values()), bf16
    assert all(dtypes == {"float32"} for dtypes in fp32.values()), fp32


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_bf16_samples_differ_from_fp32_samples_by_more_than_fp32_rounding(framework, digits):
    fp32 = build(framework, "dcgan", "fp32", digits)
    fp32_again = build(framework, "dcgan", "fp32", digits)
    bf16 = build(framework, "dcgan", "bf16", digits)
    for gan in (fp32_again, bf16):
        gan.set_weights(fp32.get_weights())
    full, again, low = (gan.sample(32, seed=3) for gan in (fp32, fp32_again, bf16))
    scale = np.abs(full).max()  # an untrained G's images are small: compare relatively
    assert np.abs(again - full).max() <= 1e-6 * scale  # the same fp32 computation twice
    # bf16 keeps 8 mantissa bits: a relative 2^-9 per rounding, a few roundings deep
    assert np.abs(low - full).max() > 1e-3 * scale
