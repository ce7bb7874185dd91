"""FLOPs of one training step, counted (not timed) on the framework that runs it.

Only matmuls and convolutions are counted, forward and backward, every network the step
touches (all D steps and the G step), a multiply-add as 2; elementwise work and the
optimiser's update are not, as in the usual model-FLOPs convention. Both counts are
deterministic: a change that adds work shows up here with no timing noise, and each
framework's row is counted on its own twin, so a change in one twin only shows too.

- torch: FlopCounterMode around one eager `train_step`.
- tf: the graph tf.function traces for `train_step`, op by op, keeping only the ops that
  the step's outputs and variable updates depend on (the traced graph also holds
  gradients nobody reads, which TensorFlow prunes before running it). Each MatMul and
  convolution is counted from its shapes as torch counts it: 2 * M * N * K for a matmul,
  2 * N * positions * kh * kw * C_in * C_out for a convolution, its forward and both
  backward ops, with positions the smaller of its two feature maps (a transposed
  convolution's input). The two counts agree to 0.2% (tests/test_flops.py).
"""

from __future__ import annotations

import math

import numpy as np

from implementations.spec import GanSpec

TF_CONVOLUTIONS = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter")


def train_step_flops(
    gan_spec: GanSpec, batch_size: int, seed: int = 0, framework: str = "torch"
) -> int:
    """FLOPs of one train_step of `framework`'s twin at `batch_size`."""
    from implementations import registry
    from implementations.api import BuildOptions, balanced_labels

    gan = registry.build(framework, gan_spec.variant, gan_spec, BuildOptions(seed=seed))
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, (batch_size, *gan_spec.image_shape)).astype(np.float32)
    labels = balanced_labels(batch_size, gan_spec.num_classes)
    if gan_spec.label_use == "semi_supervised":
        mask = np.arange(batch_size) < batch_size // 2
    else:
        mask = np.ones(batch_size, dtype=bool)
    staged = gan.to_device(images, labels, mask)
    if framework == "tf":
        return tf_graph_flops(gan.compiled_step.get_concrete_function(*staged).graph)
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        gan.train_step(*staged)
    return int(counter.get_total_flops())


def tf_graph_flops(graph) -> int:
    """Matmul and convolution FLOPs of the live ops of a traced tf.function graph."""
    total = 0
    for op in _live_ops(graph):
        if op.type in ("MatMul", "BatchMatMulV2"):
            a_shape = op.inputs[0].shape.as_list()
            transpose_a = op.get_attr("transpose_a" if op.type == "MatMul" else "adj_x")
            inner = a_shape[-2] if transpose_a else a_shape[-1]
            total += 2 * inner * math.prod(op.outputs[0].shape.as_list())
        elif op.type in TF_CONVOLUTIONS:
            total += _convolution_flops(op)
    return total


def _convolution_flops(op) -> int:
    """2 * N * positions * kh * kw * C_in * C_out, positions of the smaller feature map."""
    if op.type == "Conv2D":
        maps, kernel = (op.inputs[0], op.outputs[0]), op.inputs[1]
    elif op.type == "Conv2DBackpropInput":  # (input_sizes, filter, out_backprop)
        maps, kernel = (op.inputs[2], op.outputs[0]), op.inputs[1]
    else:  # Conv2DBackpropFilter: (input, filter_sizes, out_backprop) -> the filter's gradient
        maps, kernel = (op.inputs[0], op.inputs[2]), op.outputs[0]
    batch = maps[0].shape.as_list()[0]
    positions = min(math.prod(m.shape.as_list()[1:3]) for m in maps)
    return 2 * batch * positions * math.prod(kernel.shape.as_list())


def _live_ops(graph) -> list:
    """The ops that the graph's outputs and stateful ops (variable updates) depend on."""
    stack = [t.op for t in graph.outputs]
    stack += [op for op in graph.get_operations() if op._is_stateful]
    live: set[str] = set()
    while stack:
        op = stack.pop()
        if op.name not in live:
            live.add(op.name)
            stack += [t.op for t in op.inputs] + list(op.control_inputs)
    return [op for op in graph.get_operations() if op.name in live]
