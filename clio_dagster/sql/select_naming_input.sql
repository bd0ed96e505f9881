SELECT m.cluster_id, f.request, f.user_hash, f.language_code, f.concerning
FROM base_cluster_members AS m
JOIN facets AS f USING (partition_date, conversation_id)
WHERE m.partition_date = ?
ORDER BY m.cluster_id, m.conversation_id;
