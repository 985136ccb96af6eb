-- Appends many events in one round trip, in the order given, each exactly as audit_append does
-- (same lock, same canonical text, `at` stamped per row under the lock). Used where one change
-- records many events at once, e.g. the sweeper ending a thousand grants.
CREATE FUNCTION audit_append_many(
  lock_key bigint, p_actors text[], p_subjects text[], p_actions text[],
  p_request_ids integer[], p_datasets text[], p_details jsonb[], p_middles text[]
) RETURNS SETOF bigint LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_actions, 1), 0) LOOP
    RETURN NEXT audit_append(lock_key, p_actors[i], p_subjects[i], p_actions[i], p_request_ids[i],
                             p_datasets[i], p_details[i], p_middles[i]);
  END LOOP;
END;
$$;
