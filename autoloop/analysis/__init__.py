"""The analysis stage: reads stored runs (autoloop.store, the data contract) and never imports torch.

Modules: config (typed config), windows (gzip / LZ window series), runstats (per-run statistics),
events (collapse, escape, transitions), floors (staircase plateaus), eos_phase (EOS phase positions),
regimes (reference rule and length-independent classifier), pipeline (analyze, cache, load_metrics),
figures, observe (the OBSERVATIONS.md log), cli (analyze_main, figures_main, observe_main).
"""

from autoloop.analysis.config import AnalysisConfig, load_config
from autoloop.analysis.pipeline import analyze, load_metrics, load_table

__all__ = ["AnalysisConfig", "analyze", "load_config", "load_metrics", "load_table"]
