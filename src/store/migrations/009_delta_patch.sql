-- Deltas are patches (RFC 7396): a row of a delta data set names the canonical
-- fields it did not carry, which planning keeps from the stored record.
-- NULL for rows of a full data set (they are the whole truth for their record).
ALTER TABLE snapshot_rows ADD COLUMN absent text[];

-- JSON Merge Patch (RFC 7396) of `target` by `patch`: objects merge key by key,
-- a null member removes the key, anything else replaces.
CREATE FUNCTION people_sync_merge_patch(target jsonb, patch jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  result jsonb;
  k text;
  v jsonb;
BEGIN
  IF patch IS NULL OR jsonb_typeof(patch) <> 'object' THEN
    RETURN patch;
  END IF;
  result := CASE WHEN jsonb_typeof(target) = 'object' THEN target ELSE '{}'::jsonb END;
  FOR k, v IN SELECT key, value FROM jsonb_each(patch) LOOP
    IF jsonb_typeof(v) = 'null' THEN
      result := result - k;
    ELSE
      result := jsonb_set(result, ARRAY[k], people_sync_merge_patch(result -> k, v), true);
    END IF;
  END LOOP;
  RETURN result;
END $$;
