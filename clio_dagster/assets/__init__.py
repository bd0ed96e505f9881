"""The daily asset graph:

raw_conversations → facets → summary_embeddings → base_clusters → cluster_names → hierarchy → privacy_audit
→ published_clusters → explorer, with summary_embeddings → map_projection → published_clusters.

topic_registry (unpartitioned, not in DAILY_ASSETS) reads every day of published_clusters; topic_changes
compares two date windows of it (launched with the windows as run config, or by `clio compare`).

Declarative automation (evaluated once the default automation condition sensor is on, as an alternative to
daily_job_schedule: switch on one of the two): raw_conversations is requested for the day that just ended
at 01:00 UTC, and every downstream daily asset runs as soon as its upstream partitions are updated
(`eager`: the latest day only; backfills of older days are launched explicitly).
"""

import dagster as dg

from clio_dagster.assets.classifier import classifier_comparison
from clio_dagster.assets.clusters import base_clusters, cluster_names
from clio_dagster.assets.embeddings import summary_embeddings
from clio_dagster.assets.explorer import explorer
from clio_dagster.assets.facets import facets
from clio_dagster.assets.hierarchy import hierarchy, privacy_audit
from clio_dagster.assets.ingest import raw_conversations
from clio_dagster.assets.projection import map_projection
from clio_dagster.assets.publish import published_clusters
from clio_dagster.assets.safety import coordinated_campaigns_asset, coordinated_use, safety_clusters
from clio_dagster.assets.topics import topic_changes, topic_registry
from clio_dagster.partitions import DAILY_RUN_CRON
from clio_dagster.settings import ClioSettings


def _automated(assets: list[dg.AssetsDefinition], condition: dg.AutomationCondition) -> list[dg.AssetsDefinition]:
    return dg.map_asset_specs(lambda spec: spec.replace_attributes(automation_condition=condition), assets)


DAILY_ASSETS = [
    *_automated([raw_conversations], dg.AutomationCondition.on_cron(DAILY_RUN_CRON)),
    *_automated(
        [facets, summary_embeddings, base_clusters, cluster_names, hierarchy, privacy_audit, map_projection,
         published_clusters, explorer, classifier_comparison],
        dg.AutomationCondition.eager(),
    ),
]
(raw_conversations, facets, summary_embeddings, base_clusters, cluster_names, hierarchy, privacy_audit,
 map_projection, published_clusters, explorer, classifier_comparison) = DAILY_ASSETS



# Safety mode (clio_dagster/assets/safety.py): never automated, refused unless explicitly enabled, private DB
# only. safety_job runs them with their upstream (ingest to hierarchy), skipping the audit and publishing.
def safety_mode_assets(campaign_window_days: int) -> list[dg.AssetsDefinition]:
    return [safety_clusters, coordinated_use, coordinated_campaigns_asset(campaign_window_days)]


def safety_job_assets(campaign_window_days: int) -> list[dg.AssetsDefinition]:
    return [raw_conversations, facets, summary_embeddings, base_clusters, cluster_names, hierarchy,
            *safety_mode_assets(campaign_window_days)]


# With the default campaign window; definitions.py and `clio safety run` build them from the settings.
SAFETY_MODE_ASSETS = safety_mode_assets(ClioSettings.model_fields["campaign_window_days"].default)
SAFETY_JOB_ASSETS = safety_job_assets(ClioSettings.model_fields["campaign_window_days"].default)

__all__ = [
    "DAILY_ASSETS",
    "SAFETY_JOB_ASSETS",
    "SAFETY_MODE_ASSETS",
    "base_clusters",
    "classifier_comparison",
    "cluster_names",
    "coordinated_use",
    "explorer",
    "facets",
    "hierarchy",
    "map_projection",
    "privacy_audit",
    "published_clusters",
    "raw_conversations",
    "safety_clusters",
    "safety_job_assets",
    "safety_mode_assets",
    "summary_embeddings",
    "topic_changes",
    "topic_registry",
]
