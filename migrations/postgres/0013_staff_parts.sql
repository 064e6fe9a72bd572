-- A message too long for one Telegram message is posted in its topic in several parts. How
-- many of them are already there: a topic sync that stops between two parts (the group's
-- send budget, an error) goes on after them the next time instead of posting them again.
-- Kept in step with the other engine's migration.
ALTER TABLE messages ADD COLUMN staff_parts INTEGER NOT NULL DEFAULT 0;
