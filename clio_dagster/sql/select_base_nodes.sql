-- Named base clusters, the leaves of the hierarchy, with their nearest taxonomy leaf (offline names) and how they
-- were named (the namer's backend and model).
SELECT n.cluster_id, n.name, n.description, n.terms, n.taxonomy_id, n.method, b.conversations
FROM cluster_names AS n
JOIN base_clusters AS b USING (partition_date, cluster_id)
WHERE n.partition_date = ?
ORDER BY n.cluster_id;
