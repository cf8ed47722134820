-- A stored payload as jsonb for reading (records pages, Slack threads). Rows
-- staged by earlier versions may hold JSON text that jsonb refuses (the
-- escape of a lone UTF-16 surrogate, \u0000): one such row must not fail the
-- page it is on. Those are returned with the offending escapes replaced by
-- U+FFFD; text that is no JSON at all is returned as a JSON string.
CREATE FUNCTION people_sync_payload(payload text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  RETURN payload::jsonb;
EXCEPTION WHEN OTHERS THEN
  BEGIN
    RETURN regexp_replace(payload, '\\u(0000|[dD][89a-fA-F][0-9a-fA-F]{2})', '\\ufffd', 'g')::jsonb;
  EXCEPTION WHEN OTHERS THEN
    RETURN to_jsonb(payload);
  END;
END $$;
