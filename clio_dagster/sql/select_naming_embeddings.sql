SELECT m.cluster_id, m.conversation_id, f.request, e.embedding
FROM base_cluster_members AS m
JOIN facets AS f USING (partition_date, conversation_id)
JOIN summary_embeddings AS e USING (partition_date, conversation_id)
WHERE m.partition_date = ?
ORDER BY m.cluster_id, m.conversation_id;
