-- An employee outside its integration's scope is staged with the rule that left
-- it out (`department is Contractors (include #1)`); planning skips it, or, when
-- the integration supplied that person before, lets them leave (on_leave).
ALTER TABLE snapshot_rows ADD COLUMN out_of_scope text;
