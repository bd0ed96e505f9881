-- A fixed pseudo-random sample of one day's clustered conversations' summary embeddings (md5 order: the
-- same rows on every run). Only aggregates of it (shares of nearest clusters) leave the asset.
SELECT e.embedding
FROM summary_embeddings AS e
JOIN base_cluster_members AS m USING (partition_date, conversation_id)
WHERE e.partition_date = ?
ORDER BY md5(e.conversation_id)
LIMIT ?;
