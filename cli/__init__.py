"""nnsim: watch a neural network train, live in your terminal.

Importing any part of nnsim imports this package first, so this is the one place that keeps
BLAS to one thread, before NumPy loads: each run trains on one thread, and runs parallelise.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
