"""PyTorch twins of the GAN variants; only this package imports torch for training."""
