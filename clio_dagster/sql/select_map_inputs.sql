SELECT conversation_id, embedding
FROM summary_embeddings
WHERE partition_date = ?
ORDER BY conversation_id;
