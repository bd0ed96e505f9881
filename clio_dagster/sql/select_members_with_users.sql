-- Every clustered conversation with its cluster, user key, summary and language (row order is the index used in Python).
SELECT m.cluster_id, m.conversation_id, f.user_hash, f.request, f.language_code
FROM base_cluster_members AS m
JOIN facets AS f USING (partition_date, conversation_id)
WHERE m.partition_date = ?
ORDER BY m.cluster_id, m.conversation_id;
