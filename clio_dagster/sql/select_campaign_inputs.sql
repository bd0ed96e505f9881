-- Per conversation of a window of days (safety mode, coordinated_campaigns): its day, account, request,
-- concern and base cluster (NULL where it was not clustered).
SELECT f.partition_date, f.conversation_id, f.user_hash, f.request, f.concerning, m.cluster_id
FROM facets AS f
LEFT JOIN base_cluster_members AS m USING (partition_date, conversation_id)
WHERE f.partition_date BETWEEN ? AND ?
ORDER BY f.partition_date, f.conversation_id;
