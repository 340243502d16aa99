"""The run's own random numbers: splitmix64 streams whose state lives in the run's arrays.

A run owns its generator state (a uint64 per stream), so it is reproducible step for step and
two runs on two threads never share one. Separate streams keep the batch order unchanged when
dropout is switched on or off.
"""

import numpy as np

from .jit import inline_kernel, kernel

# Slots of the uint64 ``rng_state`` array.
R_SHUFFLE, R_DROPOUT = range(2)


@inline_kernel
def next_uniform(rng_state, stream):
    """A uniform float in [0, 1) from the run's own stream (reproducible, thread-safe)."""
    rng_state[stream] += np.uint64(0x9E3779B97F4A7C15)
    z = rng_state[stream]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@kernel
def shuffle(order, rng_state):
    """Fisher–Yates shuffle of the sample order for a new epoch."""
    for i in range(order.size - 1, 0, -1):
        j = int(next_uniform(rng_state, R_SHUFFLE) * (i + 1))
        order[i], order[j] = order[j], order[i]
