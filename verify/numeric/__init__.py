"""numpy reference implementations (float64): dense networks and convolution/pooling."""

from verify.numeric.dense import backprop, forward, loss_per_sample, sgd_step

__all__ = ["backprop", "forward", "loss_per_sample", "sgd_step"]
