-- Named base clusters, the leaves of the hierarchy.
SELECT n.cluster_id, n.name, n.description, n.terms, b.conversations
FROM cluster_names AS n
JOIN base_clusters AS b USING (partition_date, cluster_id)
WHERE n.partition_date = ?
ORDER BY n.cluster_id;
