"""Trust-and-safety settings (ClioSettings' concern floor, classifier field, safety mode, coordination rules)
carried into Dagster as one resource, `safety`."""

from clio_dagster.resources.validation import DeploymentGuardedResource, setting_default


class SafetyConfig(DeploymentGuardedResource):
    """See the trust-and-safety block of `clio_dagster.settings.ClioSettings` for each field.

    `safety_mode` alone does not enable safety mode: the run's environment must also name the operator
    (CLIO_SAFETY_OPERATOR, read at run time, never stored in run config), and a run's config cannot switch
    it on where the deployment's settings leave it off (`floors`)."""

    namespace: str | None = setting_default("namespace")
    concern_floor: float = setting_default("concern_floor")
    classifier_field: str | None = setting_default("classifier_field")
    classifier_flag_threshold: float = setting_default("classifier_flag_threshold")
    safety_mode: bool = setting_default("safety_mode")
    coordination_similarity: float = setting_default("coordination_similarity")
    coordination_min_accounts: int = setting_default("coordination_min_accounts")
    coordination_min_cluster_size: int = setting_default("coordination_min_cluster_size")
    coordination_accounts_ratio: float = setting_default("coordination_accounts_ratio")
    campaign_similarity: float = setting_default("campaign_similarity")
    campaign_min_words: int = setting_default("campaign_min_words")
    campaign_window_days: int = setting_default("campaign_window_days")
