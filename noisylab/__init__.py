"""noisylab: learn image classifiers from noisy labels, and find out how the labels are wrong."""

__version__ = "0.1.0"
