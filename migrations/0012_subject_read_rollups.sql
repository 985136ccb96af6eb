-- Derived data for the data-subject report (src/subjects/dal.ts): running totals of pii.read
-- events, kept in the ingestion's transaction (pii_read_rollup_add), rebuildable at any time from
-- audit_events (pii_read_rollup_rebuild), which stays the append-only, hash-chained record. Nothing
-- here is evidence: a row that disagrees with the log is a bug in this file, fixed by a rebuild.
--
-- pii_read_rollup: reads per (day or month, login role, analyst, set of tables), with the first and
-- last time. A year's report sums about a dozen months per reader, the days at the window's edges,
-- and reads the events of the two partial edge days from audit_events itself, so it is exact.
CREATE TABLE pii_read_rollup (
  span text NOT NULL CHECK (span IN ('day', 'month')),
  bucket timestamptz NOT NULL,
  role text NOT NULL,
  -- '' for a login role the gate does not manage (the event's subject is NULL).
  analyst text NOT NULL,
  tables text[] NOT NULL,
  reads integer NOT NULL,
  outside integer NOT NULL,
  first_at timestamptz NOT NULL,
  last_at timestamptz NOT NULL,
  PRIMARY KEY (span, bucket, role, analyst, tables)
);
--> statement-breakpoint
-- pii_read_request_spans: for each request a reader's reads went under, the first and last such
-- read. A request whose reads all lie inside the window (or all outside) needs no further look; one
-- that straddles an edge is checked against audit_events (the request's own index).
CREATE TABLE pii_read_request_spans (
  request_id integer NOT NULL,
  role text NOT NULL,
  analyst text NOT NULL,
  tables text[] NOT NULL,
  first_at timestamptz NOT NULL,
  last_at timestamptz NOT NULL,
  PRIMARY KEY (request_id, role, analyst, tables)
);
--> statement-breakpoint
CREATE FUNCTION pii_read_facts(p_ids bigint[])
  RETURNS TABLE (at timestamptz, role text, analyst text, tables text[], outside boolean, request_id integer)
  LANGUAGE sql STABLE AS $$
  SELECT e.at, e.details ->> 'role', coalesce(e.subject, ''),
         ARRAY(SELECT DISTINCT o FROM jsonb_array_elements_text(e.details -> 'objects') o ORDER BY 1),
         coalesce(e.details ->> 'alert' = 'true', false), e.request_id
    FROM unnest(p_ids) i(id) JOIN audit_events e ON e.id = i.id
   WHERE e.action = 'pii.read'
$$;
--> statement-breakpoint
-- Adds the pii.read events among p_ids (called once per ingested batch, in its transaction).
CREATE FUNCTION pii_read_rollup_add(p_ids bigint[]) RETURNS void LANGUAGE sql VOLATILE AS $$
  INSERT INTO pii_read_rollup AS r (span, bucket, role, analyst, tables, reads, outside, first_at, last_at)
  SELECT s.span, date_trunc(s.span, f.at, 'UTC'), f.role, f.analyst, f.tables,
         count(*), count(*) FILTER (WHERE f.outside), min(f.at), max(f.at)
    FROM pii_read_facts(p_ids) f CROSS JOIN (VALUES ('day'), ('month')) s(span)
   GROUP BY 1, 2, 3, 4, 5
  ON CONFLICT (span, bucket, role, analyst, tables) DO UPDATE
     SET reads = r.reads + excluded.reads, outside = r.outside + excluded.outside,
         first_at = least(r.first_at, excluded.first_at), last_at = greatest(r.last_at, excluded.last_at);
  INSERT INTO pii_read_request_spans AS r (request_id, role, analyst, tables, first_at, last_at)
  SELECT f.request_id, f.role, f.analyst, f.tables, min(f.at), max(f.at)
    FROM pii_read_facts(p_ids) f
   WHERE f.request_id IS NOT NULL
   GROUP BY 1, 2, 3, 4
  ON CONFLICT (request_id, role, analyst, tables) DO UPDATE
     SET first_at = least(r.first_at, excluded.first_at), last_at = greatest(r.last_at, excluded.last_at);
$$;
--> statement-breakpoint
-- Recomputes both tables from audit_events (after a bulk load, or to repair).
CREATE FUNCTION pii_read_rollup_rebuild() RETURNS void LANGUAGE sql VOLATILE AS $$
  DELETE FROM pii_read_rollup;
  DELETE FROM pii_read_request_spans;
  SELECT pii_read_rollup_add(ARRAY(SELECT id FROM audit_events WHERE action = 'pii.read' ORDER BY id));
$$;
--> statement-breakpoint
SELECT pii_read_rollup_rebuild();
--> statement-breakpoint
-- Reads naming a person: the retained statement texts matching the report's whole-word pattern
-- (~*) are found through trigrams instead of running the pattern over every retained text.
-- pg_trgm is a trusted extension: the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
--> statement-breakpoint
CREATE INDEX pii_read_statements_text_trgm ON pii_read_statements USING gin (statement gin_trgm_ops);
