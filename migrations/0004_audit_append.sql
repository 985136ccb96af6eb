-- Appends one event in one round trip: takes the chain lock, stamps the time, reads the head,
-- hashes, inserts. The gate sends the canonical text of the fields between `at` and `prev_hash`
-- (see canonicalRowMiddle in src/audit/chain.ts); the hashed text is
--   [<at as JSON string>,<middle>,<head as JSON string>]
-- which is exactly canonicalRowText(), so verify recomputes it in JS unchanged. `at` is taken
-- under the lock, so it never decreases along the chain. VOLATILE plpgsql: the SELECT sees the
-- head committed by the previous lock holder.
CREATE FUNCTION audit_append(
  lock_key bigint, p_actor text, p_subject text, p_action text,
  p_request_id integer, p_dataset text, p_details jsonb, p_middle text
) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  head text;
  v_at timestamptz;
  new_id bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(lock_key);
  v_at := date_trunc('milliseconds', clock_timestamp());
  SELECT hash INTO head FROM audit_events ORDER BY id DESC LIMIT 1;
  head := coalesce(head, repeat('0', 64));
  INSERT INTO audit_events (at, actor, subject, action, request_id, dataset, details, prev_hash, hash)
  VALUES (v_at, p_actor, p_subject, p_action, p_request_id, p_dataset, p_details, head,
          encode(sha256(convert_to(
            '[' || to_json(to_char(v_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))::text
                || ',' || p_middle || ',"' || head || '"]', 'UTF8')), 'hex'))
  RETURNING id INTO new_id;
  RETURN new_id;
END;
$$;
--> statement-breakpoint
-- Superseded by audit_append.
DROP FUNCTION audit_chain_head(bigint);
