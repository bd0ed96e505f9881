SELECT e.conversation_id, e.embedding
FROM summary_embeddings AS e
WHERE e.partition_date = ?
ORDER BY e.conversation_id;
