-- One page of the day's accepted conversations: ids from $first to $last inclusive, in id order.
SELECT conversation_id, user_hash, conversation_ts, messages
FROM raw_conversations
WHERE partition_date = $day AND conversation_id BETWEEN $first AND $last
ORDER BY conversation_id;
