"""autoloop: language models as dynamical systems."""

from autoloop.store import list_runs, load_steps


def load_metrics(results_dir="results", **filters):
    """The run-metrics table written by `autoloop analyze` (one row per run), filtered like list_runs."""
    from autoloop.analysis.pipeline import load_metrics as _load_metrics

    return _load_metrics(results_dir, **filters)


__all__ = ["list_runs", "load_steps", "load_metrics"]
__version__ = "0.1.0"
