-- The twin of SQLite's 008: instances and their heartbeats, who runs each deployment and
-- one-off command, and dashboard sessions shared by the instances.
CREATE TABLE instances (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    pid BIGINT NOT NULL,
    started_at TEXT NOT NULL,
    seen_at TEXT NOT NULL,
    processes TEXT NOT NULL DEFAULT '{}'
);
ALTER TABLE deployments ADD COLUMN instance TEXT;
ALTER TABLE runs ADD COLUMN instance TEXT;
CREATE TABLE sessions (
    id_sha256 TEXT PRIMARY KEY,
    csrf TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
-- Each minute's cron jobs run once across the instances: the one that claims the minute.
CREATE TABLE cron_minutes (
    minute TEXT PRIMARY KEY,
    instance TEXT NOT NULL
);
