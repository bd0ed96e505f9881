SELECT c.input_hash, c.output
FROM llm_cache AS c
JOIN wanted_keys AS w USING (input_hash)
WHERE c.task = ? AND c.prompt_version = ? AND c.model = ?
ORDER BY c.input_hash;
