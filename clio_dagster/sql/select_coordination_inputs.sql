-- Per clustered conversation (safety mode): its summary embedding, base cluster, account, request and concern.
SELECT e.conversation_id, e.embedding, m.cluster_id, f.user_hash, f.request, f.concerning
FROM summary_embeddings AS e
JOIN base_cluster_members AS m USING (partition_date, conversation_id)
JOIN facets AS f USING (partition_date, conversation_id)
WHERE e.partition_date = ?
ORDER BY e.conversation_id;
