-- Server-wide settings: every app gets them unless it sets the key itself.
CREATE TABLE global_settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
