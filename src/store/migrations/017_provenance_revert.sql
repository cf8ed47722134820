-- Provenance: which run last set each field of a stored record. `created_run_id` is the run that
-- created the record (every field it was created with came from there); `provenance` maps a field
-- to the run that last changed it since ({"job_title": 812}). Both are written by the same
-- statements that write the fields (src/engine/plan.ts, applyPlan). Records stored before this
-- migration have neither: their provenance is not known until a run changes them.
ALTER TABLE employees   ADD COLUMN created_run_id bigint, ADD COLUMN provenance jsonb;
ALTER TABLE employments ADD COLUMN created_run_id bigint, ADD COLUMN provenance jsonb;
ALTER TABLE org_units   ADD COLUMN created_run_id bigint, ADD COLUMN provenance jsonb;

-- A person's results across runs (GET /api/people/:id, /sync why).
CREATE INDEX run_records_employee_idx ON run_records (record_id, run_id) WHERE entity = 'employees' AND record_id IS NOT NULL;

-- A revert is a run of its own: it stages the compensating plan of an applied run.
ALTER TABLE sync_runs DROP CONSTRAINT sync_runs_mode_check;
ALTER TABLE sync_runs ADD CONSTRAINT sync_runs_mode_check CHECK (mode IN ('full', 'recent', 'user', 'effective', 'revert'));
CREATE INDEX sync_runs_revert_of_idx ON sync_runs (((source ->> 'revert_of')::bigint)) WHERE mode = 'revert';

-- The JSON Merge Patch (RFC 7396) that turns `source` into `target`: what a revert stages for
-- attributes, which planning merges into the stored ones (people_sync_merge_patch, 009).
CREATE FUNCTION people_sync_diff_patch(source jsonb, target jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  result jsonb := '{}'::jsonb;
  k text;
  v jsonb;
BEGIN
  IF jsonb_typeof(source) IS DISTINCT FROM 'object' OR jsonb_typeof(target) IS DISTINCT FROM 'object' THEN
    RETURN coalesce(target, '{}'::jsonb);
  END IF;
  FOR k, v IN SELECT key, value FROM jsonb_each(target) LOOP
    IF NOT source ? k OR jsonb_typeof(v) <> 'object' OR jsonb_typeof(source -> k) <> 'object' THEN
      IF source -> k IS DISTINCT FROM v THEN result := result || jsonb_build_object(k, v); END IF;
    ELSIF source -> k IS DISTINCT FROM v THEN
      result := result || jsonb_build_object(k, people_sync_diff_patch(source -> k, v));
    END IF;
  END LOOP;
  FOR k IN SELECT key FROM jsonb_each(source) WHERE NOT target ? key LOOP
    result := result || jsonb_build_object(k, 'null'::jsonb);
  END LOOP;
  RETURN result;
END $$;
