"""The live pipeline: `build_pipeline(config)` opens everything, `Pipeline.run()` runs it."""

from edgewatch.pipeline.build import build_pipeline
from edgewatch.pipeline.pipeline import Pipeline, RunSummary

__all__ = ["Pipeline", "RunSummary", "build_pipeline"]
