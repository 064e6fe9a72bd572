-- Vehicle photos (issue 4). Kept in step with migrations/sqlite.
-- A media row with vehicle_id is one of that car's photos (its own row, not a message's),
-- and the same picture is kept once per car.
CREATE UNIQUE INDEX media_vehicle_photo ON media (vehicle_id, sha256) WHERE vehicle_id IS NOT NULL;

-- A staff album whose first picture is captioned /photo VIN: its other pictures (which
-- Telegram sends without a caption) go to the same car instead of to the customer.
CREATE TABLE staff_albums (
    media_group_id TEXT PRIMARY KEY,
    vehicle_id     BIGINT NOT NULL REFERENCES vehicles (id),
    created_at     BIGINT NOT NULL
);

-- '/photo' as a reply to a customer's photo finds the message by the topic message it
-- was shown as.
CREATE INDEX messages_staff_message ON messages (lead_id, staff_message_id);
