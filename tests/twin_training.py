"""Train the torch and tf twins of a variant side by side and measure how far apart they end.

Both twins start from the same weights and see the same batches and the same z at every
call of `noise()`, so any gap is float32 arithmetic (summation order, fused kernels). Used by
tests/test_twin_training.py; run as a script to print the measured gaps:

    python -m tests.twin_training [variant ...]
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

# torch before tensorflow (torch._dynamo after tensorflow segfaults)
import torch
from torch import nn

from bench.batches import labelled_subset, semi_supervised_batches, training_batches
from bench.datasets import Dataset, load_dataset
from implementations import registry
from implementations.api import GAN, BuildOptions
from implementations.spec import NON_TRAINABLE, GanSpec, make_spec

STEPS = 50
BATCH_SIZE = 64
SSL_LABELS = 100


class FixedNoise:
    """gan.noise() replaced by z given from outside: call i of a step reads slot i.

    The tf twin traces its step once, so its noise() is called once per slot at trace
    time and reads variables that are assigned before every step; the torch twin calls
    noise() at every step and gets the current step's arrays.
    """

    def __init__(self, framework: str, slots: int, latent_dim: int):
        self.framework = framework
        self.slots = slots
        self.calls = 0
        if framework == "tf":
            import tensorflow as tf

            self.tf = tf
            self.values = [tf.Variable(tf.zeros((BATCH_SIZE, latent_dim))) for _ in range(slots)]
        else:
            self.values = [torch.zeros((BATCH_SIZE, latent_dim)) for _ in range(slots)]

    def set_step(self, latents: np.ndarray) -> None:
        for slot, latent in enumerate(latents):
            if self.framework == "tf":
                self.values[slot].assign(latent)
            else:
                self.values[slot] = torch.from_numpy(latent)

    def __call__(self, n) -> object:
        slot = self.values[self.calls % self.slots]
        self.calls += 1
        return self.tf.identity(slot) if self.framework == "tf" else slot


def noise_calls_per_step(spec: GanSpec) -> int:
    """How many times one train_step draws z: k D steps and one G step (ssgan: one and one)."""
    return 2 if spec.label_use == "semi_supervised" else spec.d_steps_per_g_step + 1


def adam_state(gan: GAN) -> dict[str, np.ndarray]:
    """Adam's first and second moments of every trainable parameter, in the neutral layout."""
    if gan.framework == "tf":
        return _tf_adam_state(gan)
    return _torch_adam_state(gan)


def _torch_adam_state(gan) -> dict[str, np.ndarray]:
    state = {}
    for key, module in gan._named_modules():
        optimizer = gan.g_optimizer if key.startswith("generator.") else gan.d_optimizer
        parameters = {"kernel": module.weight, "bias": module.bias}
        if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
            parameters = {"gamma": module.weight, "beta": module.bias}
        for name, parameter in parameters.items():
            if parameter is None:
                continue
            for moment, torch_name in (("m", "exp_avg"), ("v", "exp_avg_sq")):
                value = optimizer.state[parameter][torch_name]
                if name == "kernel":
                    value = value.T if isinstance(module, nn.Linear) else value.permute(2, 3, 1, 0)
                state[f"{key}.{name}.{moment}"] = value.detach().numpy().copy()
            state[f"{key}.{name}.steps"] = np.array(float(optimizer.state[parameter]["step"]))
    return state


def _tf_adam_slots(gan) -> Iterator[tuple[str, object, int]]:
    """(state key prefix, optimizer, slot index) of every trainable tf variable."""
    from implementations.tf.common import neutral_parameters

    for key, module in gan._named_modules():
        optimizer = gan.g_optimizer if key.startswith("generator.") else gan.d_optimizer
        for name, variable in neutral_parameters(module).items():
            if name not in NON_TRAINABLE:
                yield f"{key}.{name}", optimizer, optimizer._get_variable_index(variable)


def _tf_adam_state(gan) -> dict[str, np.ndarray]:
    state = {}
    for prefix, optimizer, index in _tf_adam_slots(gan):
        state[f"{prefix}.m"] = optimizer._momentums[index].numpy().copy()
        state[f"{prefix}.v"] = optimizer._velocities[index].numpy().copy()
        state[f"{prefix}.steps"] = np.array(float(optimizer.iterations.numpy()))
    return state


def batches(dataset: Dataset, spec: GanSpec, steps: int) -> list[tuple[np.ndarray, ...]]:
    """The run's first `steps` batches, as the worker makes them (semi-supervised: N labels)."""
    if spec.label_use == "semi_supervised":
        labelled = labelled_subset(dataset.train_labels, SSL_LABELS, seed=0)
        stream = semi_supervised_batches(
            dataset.train_images, dataset.train_labels, labelled, BATCH_SIZE, seed=0
        )
    else:
        everyone = np.ones(len(dataset.train_labels), dtype=bool)
        stream = training_batches(
            dataset.train_images, dataset.train_labels, BATCH_SIZE, 0, labelled_mask=everyone
        )
    return [next(stream) for _ in range(steps)]


def set_tf_adam_state(gan, state: dict[str, np.ndarray]) -> None:
    """Load adam_state() of the torch twin into the tf twin's Adam (moments and step)."""
    for prefix, optimizer, index in _tf_adam_slots(gan):
        optimizer._momentums[index].assign(state[f"{prefix}.m"])
        optimizer._velocities[index].assign(state[f"{prefix}.v"])
        optimizer.iterations.assign(int(state[f"{prefix}.steps"]))


@dataclass(frozen=True)
class TwinGaps:
    """How far apart the twins were, the worst over all steps, relative to what a step moved.

    loss: |tf - torch| / (|torch| + 1), every loss; update: ||Δtf - Δtorch|| / ||Δtorch||
    for each trainable tensor (Δ: what the step changed), moving_stats: the same for the
    BatchNorm moving statistics; adam: ||tf - torch|| / ||torch|| for each Adam moment after
    the step; adam_steps_equal: Adam's step counters agree after every step.
    """

    loss: float
    update: float
    moving_stats: float
    adam: float
    adam_steps_equal: bool

    def worst(self) -> dict[str, float]:
        return {
            "loss": self.loss,
            "update": self.update,
            "moving_stats": self.moving_stats,
            "adam": self.adam,
        }


def _relative(gap: np.ndarray, reference: np.ndarray) -> float:
    scale = float(np.linalg.norm(reference))
    return float(np.linalg.norm(gap)) / scale if scale > 0 else float(np.linalg.norm(gap))


def loss_gap(losses: dict[str, dict[str, float]]) -> float:
    assert losses["torch"].keys() == losses["tf"].keys()
    return max(
        abs(losses["tf"][k] - losses["torch"][k]) / (abs(losses["torch"][k]) + 1.0)
        for k in losses["torch"]
    )


def step_gaps(
    losses: dict[str, dict[str, float]],
    before: dict[str, np.ndarray],
    after: dict[str, dict[str, np.ndarray]],
    adam: dict[str, dict[str, np.ndarray]],
) -> TwinGaps:
    """The gaps after one step that both twins took from the same `before` state."""
    loss = loss_gap(losses)
    update, moving = 0.0, 0.0
    for key, start in before.items():
        moved = after["torch"][key] - start
        gap = _relative(after["tf"][key] - after["torch"][key], moved)
        if not moved.any() and not gap:
            continue  # a tensor neither twin changed (ssgan's baseline leaves G alone)
        if key.rsplit(".", 1)[1] in NON_TRAINABLE:
            moving = max(moving, gap)
        else:
            update = max(update, gap)
    assert adam["torch"].keys() == adam["tf"].keys()
    adam_gap, steps_equal = 0.0, True
    for key, value in adam["torch"].items():
        if key.endswith(".steps"):
            steps_equal = steps_equal and float(value) == float(adam["tf"][key])
        else:
            adam_gap = max(adam_gap, _relative(adam["tf"][key] - value, value))
    return TwinGaps(loss, update, moving, adam_gap, steps_equal)


def typical_of(all_gaps: list[TwinGaps]) -> TwinGaps:
    """The median over the steps of each gap: what a typical step shows.

    The worst step is a per-tensor extreme (float32 Adam turns a noise-level gradient into
    a full lr step) that moved 10x between two CPUs of the same kind (dcgan's update gap:
    3.9e-3 on one, 4.1e-2 on another), while the median stays near 1e-4 on both and a
    planted defect moves it past 1e-1 (tests/test_twin_training.py)."""
    return TwinGaps(
        loss=float(np.median([g.loss for g in all_gaps])),
        update=float(np.median([g.update for g in all_gaps])),
        moving_stats=float(np.median([g.moving_stats for g in all_gaps])),
        adam=float(np.median([g.adam for g in all_gaps])),
        adam_steps_equal=all(g.adam_steps_equal for g in all_gaps),
    )


def worst_of(all_gaps: list[TwinGaps]) -> TwinGaps:
    return TwinGaps(
        loss=max(g.loss for g in all_gaps),
        update=max(g.update for g in all_gaps),
        moving_stats=max(g.moving_stats for g in all_gaps),
        adam=max(g.adam for g in all_gaps),
        adam_steps_equal=all(g.adam_steps_equal for g in all_gaps),
    )


def train_twins(
    variant: str,
    dataset: Dataset,
    steps: int = STEPS,
    preset: str = "paper",
    resync: bool = True,
) -> list[TwinGaps]:
    """Train both twins `steps` steps from the same weights, batches and z; gaps per step.

    resync: before every step the tf twin is given the torch twin's weights, moving
    statistics and Adam state, so each step is compared from one state, along torch's
    50-step trajectory. Without it the twins run free and float32 rounding compounds:
    at real widths a GAN is chaotic (one twin against itself with its weights moved by
    one ulp drifts as far), so a free run measures chaos, not the twins.
    """
    spec = make_spec(variant, dataset.image_shape, dataset.num_classes, preset)
    gans = {fw: registry.build(fw, variant, spec, BuildOptions(seed=0)) for fw in ("torch", "tf")}
    gans["tf"].set_weights(gans["torch"].get_weights())
    start = gans["torch"].get_weights()
    slots = noise_calls_per_step(spec)
    feeds = {fw: FixedNoise(fw, slots, spec.latent_dim) for fw in gans}
    for framework, gan in gans.items():
        gan.noise = feeds[framework]
    rng = np.random.default_rng(1)
    found = []
    for step, batch in enumerate(batches(dataset, spec, steps)):
        if resync and step > 0:
            gans["tf"].set_weights(gans["torch"].get_weights())
            set_tf_adam_state(gans["tf"], adam_state(gans["torch"]))
        before = gans["torch"].get_weights() if resync else start
        latents = rng.standard_normal((slots, BATCH_SIZE, spec.latent_dim)).astype(np.float32)
        losses = {}
        for framework, gan in gans.items():
            feeds[framework].set_step(latents)
            step_losses = gan.train_step(*gan.to_device(*batch))
            losses[framework] = {name: float(value) for name, value in step_losses.items()}
        if resync or step == steps - 1:
            after = {fw: gan.get_weights() for fw, gan in gans.items()}
            adam = {fw: adam_state(gan) for fw, gan in gans.items()}
            found.append(step_gaps(losses, before, after, adam))
        else:
            found.append(TwinGaps(loss_gap(losses), 0.0, 0.0, 0.0, adam_steps_equal=True))
    assert feeds["torch"].calls == slots * steps, "torch drew z more often than assumed"
    assert feeds["tf"].calls == slots, "tf traced its step more than once"
    return found


if __name__ == "__main__":
    torch.set_num_threads(1)
    digits = load_dataset("digits")
    for name in sys.argv[1:] or registry.BUILT_IN_VARIANTS:
        for resync in (True, False):
            measured = worst_of(train_twins(name, digits, resync=resync))
            worst = {k: f"{v:.1e}" for k, v in measured.worst().items()}
            print(name, "resync" if resync else "free", worst, measured.adam_steps_equal)
