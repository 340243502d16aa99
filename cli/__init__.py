"""nnsim: watch a neural network train, live in your terminal."""

__version__ = "0.1.0"
