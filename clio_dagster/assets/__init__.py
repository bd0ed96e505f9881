"""The daily asset graph:

raw_conversations → facets → summary_embeddings → base_clusters → cluster_names → hierarchy → privacy_audit
→ published_clusters → explorer, with summary_embeddings → map_projection → published_clusters.

topic_registry (unpartitioned, not in DAILY_ASSETS) reads every day of published_clusters.
"""

from clio_dagster.assets.clusters import base_clusters, cluster_names
from clio_dagster.assets.embeddings import summary_embeddings
from clio_dagster.assets.explorer import explorer
from clio_dagster.assets.facets import facets
from clio_dagster.assets.hierarchy import hierarchy, privacy_audit
from clio_dagster.assets.ingest import raw_conversations
from clio_dagster.assets.projection import map_projection
from clio_dagster.assets.publish import published_clusters
from clio_dagster.assets.topics import topic_registry

DAILY_ASSETS = [
    raw_conversations,
    facets,
    summary_embeddings,
    base_clusters,
    cluster_names,
    hierarchy,
    privacy_audit,
    map_projection,
    published_clusters,
    explorer,
]

__all__ = [
    "DAILY_ASSETS",
    "base_clusters",
    "cluster_names",
    "explorer",
    "facets",
    "hierarchy",
    "map_projection",
    "privacy_audit",
    "published_clusters",
    "raw_conversations",
    "summary_embeddings",
    "topic_registry",
]
