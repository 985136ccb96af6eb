-- Takes the chain lock and returns the current head in one round trip. Being VOLATILE plpgsql, the
-- SELECT runs with a snapshot taken after the lock is granted, so it sees the head that the
-- previous holder committed. (A plain SELECT of both in one statement would read a stale head.)
CREATE FUNCTION audit_chain_head(lock_key bigint) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(lock_key);
  RETURN (SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1);
END;
$$;
