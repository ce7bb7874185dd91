"""Semi-supervised accuracy: how well a classifier trained with N labels labels the test split.

`ssl_accuracy` is the test accuracy of ssgan's discriminator read as a K-way classifier
(the fake class is implicit, so argmax over the K logits), and `ssl_baseline_accuracy`
is the same function applied to the same discriminator architecture trained on the N
labels alone, with the same budget. Both are plain accuracies; what makes the comparison
fair (same labels, same steps, same batches) is the harness's job, not this module's.
"""

import numpy as np


def classification_accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose largest logit is the true label; ties go to the lowest class."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    if logits.ndim != 2 or logits.shape[0] == 0 or logits.shape[1] < 2:
        raise ValueError(f"logits have shape {logits.shape}; expected (N, K) with N > 0, K >= 2")
    if labels.shape != (logits.shape[0],):
        raise ValueError(f"{logits.shape[0]} rows of logits but labels of shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels have dtype {labels.dtype}; expected integers")
    if labels.min() < 0 or labels.max() >= logits.shape[1]:
        raise ValueError(
            f"labels span {labels.min()}..{labels.max()}; allowed 0..{logits.shape[1] - 1}"
        )
    if not np.isfinite(logits).all():
        raise ValueError("logits hold NaN or infinite values")
    return float(np.mean(logits.argmax(axis=1) == labels))
