-- Per clustered conversation: its base cluster, facets and map point (for aggregates of published nodes).
SELECT m.cluster_id, f.user_hash, f.language, f.n_turns, f.concerning, p.x, p.y, f.custom_facets
FROM base_cluster_members AS m
JOIN facets AS f USING (partition_date, conversation_id)
LEFT JOIN map_points AS p USING (partition_date, conversation_id)
WHERE m.partition_date = ?
ORDER BY m.cluster_id, m.conversation_id;
