"""The daily asset graph: raw_conversations → facets → summary_embeddings → base_clusters →
cluster_names → published_clusters."""

from clio_dagster.assets.clusters import base_clusters, cluster_names
from clio_dagster.assets.embeddings import summary_embeddings
from clio_dagster.assets.facets import facets
from clio_dagster.assets.ingest import raw_conversations
from clio_dagster.assets.publish import published_clusters

DAILY_ASSETS = [raw_conversations, facets, summary_embeddings, base_clusters, cluster_names, published_clusters]

__all__ = [
    "DAILY_ASSETS",
    "base_clusters",
    "cluster_names",
    "facets",
    "published_clusters",
    "raw_conversations",
    "summary_embeddings",
]
