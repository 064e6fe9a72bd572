-- Inventory (issue 4): what the ERP and CSV imports carry. Kept in step with migrations/postgres.
ALTER TABLE vehicles ADD COLUMN stock_number TEXT;
ALTER TABLE vehicles ADD COLUMN trim TEXT;
-- 1 when the VIN's check digit holds; 0 is shown as a warning, not refused.
ALTER TABLE vehicles ADD COLUMN vin_check_ok BIGINT NOT NULL DEFAULT 1 CHECK (vin_check_ok IN (0, 1));
-- The ERP's own version of the record and when it sent it (unix ms), so an older event
-- never rolls a vehicle back.
ALTER TABLE vehicles ADD COLUMN data_version BIGINT;
ALTER TABLE vehicles ADD COLUMN erp_sent_at BIGINT;
CREATE UNIQUE INDEX vehicles_erp_id ON vehicles (erp_id) WHERE erp_id IS NOT NULL;
CREATE INDEX vehicles_status ON vehicles (status);

-- ERP events already applied (or deliberately ignored), by their event_id: a repeat is a no-op.
CREATE TABLE erp_events (
    event_id    TEXT PRIMARY KEY,
    event       TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

-- Search: the VIN's last 4 and 6 characters (managers type the tail), and make/model/year.
ALTER TABLE vehicles ADD COLUMN vin_last4 TEXT;
ALTER TABLE vehicles ADD COLUMN vin_last6 TEXT;
CREATE INDEX vehicles_vin_last4 ON vehicles (vin_last4);
CREATE INDEX vehicles_vin_last6 ON vehicles (vin_last6);
CREATE INDEX vehicles_make_model ON vehicles (make, model, year);
CREATE INDEX vehicles_year ON vehicles (year);
