-- Base clusters the namer could not name (LLM failures): recorded as suppressed in the audit table.
SELECT b.cluster_id, b.conversations, b.unique_users
FROM base_clusters AS b
WHERE b.partition_date = $1
  AND NOT EXISTS (
      SELECT 1 FROM cluster_names AS n WHERE n.partition_date = b.partition_date AND n.cluster_id = b.cluster_id
  )
ORDER BY b.cluster_id;
