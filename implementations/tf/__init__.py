"""TensorFlow (Keras 3) twins of the GAN variants; only this package imports tensorflow.

Keras 3 picks its backend at first import, so the tensorflow backend is set
here, before any module of this package imports keras.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
if os.environ["KERAS_BACKEND"] != "tensorflow":
    raise RuntimeError(
        f"KERAS_BACKEND={os.environ['KERAS_BACKEND']!r}; the tf twins need 'tensorflow'"
    )
