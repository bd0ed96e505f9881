-- Per clustered conversation: its base cluster, user key, concern and the classifier's raw JSON value
-- ($1: JSON path of the configured metadata field, $2: the partition).
SELECT m.cluster_id, f.user_hash, f.concerning, json_extract(r.metadata, $1) AS classifier_value
FROM base_cluster_members AS m
JOIN facets AS f USING (partition_date, conversation_id)
JOIN raw_conversations AS r USING (partition_date, conversation_id)
WHERE m.partition_date = $2
ORDER BY m.cluster_id, m.conversation_id;
