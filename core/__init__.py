"""nnsim's numerics: data, model layout, kernels, optimizers and the training run. No UI here."""
