SELECT conversation_id, user_hash, conversation_ts, messages
FROM raw_conversations
WHERE partition_date = ?
ORDER BY conversation_id;
