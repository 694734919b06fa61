"""autoloop: language models as dynamical systems."""

from autoloop.store import list_runs, load_steps

__all__ = ["list_runs", "load_steps"]
__version__ = "0.1.0"
