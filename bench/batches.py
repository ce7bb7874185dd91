"""Training batches from a data set's arrays, and the labelled few a semi-supervised run sees.

Labels fail closed: every batch carries a labelled mask that its caller wrote down, and a
semi-supervised batch's unlabelled half has its labels replaced by -1 before it leaves.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def training_batches(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    seed: int,
    *,
    labelled_mask: np.ndarray,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Endless (images, labels, labelled_mask) batches, reshuffled every epoch with `seed`.

    labelled_mask (bool, one per image) says whose label training may read; it has no
    default, so no caller gets "every label visible" without writing it down (fails closed).
    The last incomplete batch of an epoch is dropped, so every batch has the
    same shape and no graph is retraced or recompiled mid-run.
    """
    if batch_size > len(images):
        raise ValueError(
            f"batch size {batch_size} is larger than the {len(images)} training images"
        )
    if np.shape(labelled_mask) != (len(labels),) or np.asarray(labelled_mask).dtype != bool:
        raise ValueError(f"labelled_mask must be {len(labels)} booleans, one per image")
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(images))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            chosen = order[start : start + batch_size]
            yield images[chosen], labels[chosen], labelled_mask[chosen]


def labelled_subset(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """`count` training indices whose labels a semi-supervised run may see, drawn once.

    Balanced as in Salimans et al. 2016 (100 labels on MNIST = 10 per class):
    count // K per class, the remainder from the classes in order. Sorted.
    """
    classes = np.unique(labels)
    if not len(classes) <= count <= len(labels):
        raise ValueError(
            f"ssl_labels = {count}; must be between {len(classes)} (one per class) "
            f"and {len(labels)} (the training set)"
        )
    rng = np.random.default_rng(seed)
    per_class = [
        count // len(classes) + (1 if i < count % len(classes) else 0) for i in range(len(classes))
    ]
    chosen = [
        rng.choice(np.flatnonzero(labels == label), size=size, replace=False)
        for label, size in zip(classes, per_class, strict=True)
    ]
    return np.sort(np.concatenate(chosen))


def semi_supervised_batches(
    images: np.ndarray,
    labels: np.ndarray,
    labelled: np.ndarray,
    batch_size: int,
    seed: int,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Batches whose first half is labelled examples, second half unlabelled images.

    As in Salimans et al.'s code: every step sees a labelled minibatch
    (cycling over the few labelled examples) and an unlabelled one drawn from
    the whole training split. Labels outside `labelled` are replaced by -1
    before they leave this function, so no other label can leak into training;
    labelled_mask marks the first half.
    """
    if batch_size < 2 or batch_size % 2:
        raise ValueError(f"batch size {batch_size}; a semi-supervised batch needs an even size")
    half = batch_size // 2
    hidden = np.full(len(labels), -1, dtype=np.int64)
    hidden[labelled] = labels[labelled]
    pool = np.tile(labelled, -(-half // len(labelled)))  # repeat the few labelled as needed
    labelled_stream = training_batches(
        images[pool], hidden[pool], half, seed, labelled_mask=np.ones(len(pool), dtype=bool)
    )
    unlabelled_stream = training_batches(
        images,
        np.full(len(labels), -1),
        half,
        seed + 1,
        labelled_mask=np.zeros(len(labels), dtype=bool),
    )
    mask = np.arange(batch_size) < half
    for (x_l, y_l, _), (x_u, y_u, _) in zip(labelled_stream, unlabelled_stream, strict=True):
        yield np.concatenate([x_l, x_u]), np.concatenate([y_l, y_u]), mask
