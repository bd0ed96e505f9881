SELECT b.cluster_id, b.conversations, b.unique_users, b.mean_turns, b.concerning_mean,
       n.name, n.description, n.method, n.backend
FROM base_clusters AS b
JOIN cluster_names AS n USING (partition_date, cluster_id)
WHERE b.partition_date = ?
ORDER BY b.cluster_id;
