"""noisylab: learn image classifiers from noisy labels, and find out how the labels are wrong.

The Python API (`noisylab.api`) is exported here and imported on first use, so that
``import noisylab`` loads neither torch nor the data sources.
"""

__version__ = "0.1.0"

#: Name exported here -> the module that defines it.
_API = {
    "audit_labels": "noisylab.api",
    "evaluate_run": "noisylab.api",
    "resolve_spec": "noisylab.spec",
    "train_run": "noisylab.api",
    "RunSpec": "noisylab.spec",
    "AuditResult": "noisylab.audit",
    "TrainResult": "noisylab.train",
    "load": "noisylab.data",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'noisylab' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])
