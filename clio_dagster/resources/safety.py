"""Trust-and-safety settings (ClioSettings' concern floor, classifier field, safety mode, coordination rules)
carried into Dagster as one resource, `safety`."""

from __future__ import annotations

import dagster as dg

from clio_dagster.core.concern import DEFAULT_CONCERN_FLOOR


class SafetyConfig(dg.ConfigurableResource):
    """See the trust-and-safety block of `clio_dagster.settings.ClioSettings` for each field.

    `safety_mode` alone does not enable safety mode: the run's environment must also name the operator
    (CLIO_SAFETY_OPERATOR, read at run time, never stored in run config)."""

    namespace: str | None = None
    concern_floor: float = DEFAULT_CONCERN_FLOOR
    classifier_field: str | None = None
    classifier_flag_threshold: float = 0.5
    safety_mode: bool = False
    coordination_similarity: float = 0.95
    coordination_min_accounts: int = 10
    coordination_min_cluster_size: int = 20
    coordination_accounts_ratio: float = 0.2
