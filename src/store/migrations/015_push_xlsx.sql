-- A push may carry an XLSX workbook (the import sheet an HR admin completes), stored as sent.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_format_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_format_check CHECK (format IN ('json', 'ndjson', 'csv', 'xlsx'));
