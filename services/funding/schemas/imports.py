"""Wire models of the funding service's bulk imports and their jobs (shared with criteria:
one job runner, one shape)."""

from __future__ import annotations

from shared.bulk import ImportMode, ImportSummary, RowError
from shared.jobs import ImportJobOut, JobProblem, JobStatus

__all__ = ["ImportJobOut", "ImportMode", "ImportSummary", "JobProblem", "JobStatus", "RowError"]
