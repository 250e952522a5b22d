"""Training one variation: the model, its augmentation, optimizers, feed, devices and seed."""
