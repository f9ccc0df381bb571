-- Birthday, address and the visitor's note, when the form asks for them: one JSON
-- object (see `SignupDetails`), NULL when there are none.
ALTER TABLE submissions ADD COLUMN details TEXT;
