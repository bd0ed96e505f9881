INSERT INTO llm_cache
SELECT n.task, n.prompt_version, n.model, n.input_hash, n.output::JSON, now()::TIMESTAMP
FROM new_entries AS n
WHERE NOT EXISTS (
    SELECT 1 FROM llm_cache AS c
    WHERE c.task = n.task AND c.prompt_version = n.prompt_version AND c.model = n.model AND c.input_hash = n.input_hash
);
