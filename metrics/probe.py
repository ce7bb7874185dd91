"""Linear-probe accuracy: how linearly separable the classes are in a feature space.

As Radford et al. 2016 ("Unsupervised Representation Learning with Deep Convolutional
GANs", section 5.1) judged DCGAN discriminator features: fit a regularised linear
classifier on the features of N labelled training images and report its accuracy on the
test split. Here: scikit-learn's multinomial LogisticRegression (L2, C=1) on standardised
features.
"""

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

MAX_ITERATIONS = 5000  # lbfgs iterations; standardised features converge in far fewer


def linear_probe_accuracy(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    seed: int = 0,
) -> float:
    """Test accuracy of a logistic regression fitted on (N, D) labelled train features."""
    train_features = _check_split("train", train_features, train_labels)
    test_features = _check_split("test", test_features, test_labels)
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            f"train features have D={train_features.shape[1]} but test features "
            f"D={test_features.shape[1]}: must be equal"
        )
    if len(np.unique(train_labels)) < 2:
        raise ValueError("train labels hold one class; a probe needs at least two")
    probe = make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=MAX_ITERATIONS, random_state=seed)
    )
    probe.fit(train_features, train_labels)
    return float(probe.score(test_features, test_labels))


def _check_split(name: str, features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) == 0:
        raise ValueError(f"{name} features have shape {features.shape}; expected (N, D), N > 0")
    if np.shape(labels) != (len(features),):
        raise ValueError(
            f"{len(features)} {name} features but {name} labels of shape {np.shape(labels)}"
        )
    if not np.isfinite(features).all():
        raise ValueError(f"{name} features hold NaN or infinite values")
    return features
