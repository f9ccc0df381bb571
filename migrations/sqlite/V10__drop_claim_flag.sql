-- The claim flag that leases replaced in V8, kept until now so that a version from
-- before V8 could still be rolled back to; none has written it since.
DROP INDEX delivery_queue_by_due;
ALTER TABLE delivery_queue DROP COLUMN in_flight;
