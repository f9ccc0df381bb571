-- The admin sessions' generation: a session signed under an older one is over.
CREATE TABLE admin_sessions (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO admin_sessions (id, generation) VALUES (1, 0);
