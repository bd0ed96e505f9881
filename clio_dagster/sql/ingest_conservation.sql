-- Row conservation at ingest: every record read is either accepted or quarantined.
SELECT
    coalesce((SELECT sum(records_in) FROM ingest_stats WHERE partition_date = $day), 0) AS records_in,
    (SELECT count(*) FROM raw_conversations WHERE partition_date = $day) AS accepted,
    (SELECT count(*) FROM quarantine WHERE partition_date = $day) AS quarantined;
