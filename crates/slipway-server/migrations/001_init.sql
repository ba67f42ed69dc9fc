CREATE TABLE admin (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    token_sha256 TEXT NOT NULL
);

CREATE TABLE apps (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    -- set when a deployment of this app was interrupted by a crash: the next one builds a fresh env
    needs_clean_env INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE settings (
    app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (app, key)
);

CREATE TABLE deployments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    commit_sha TEXT NOT NULL,
    author TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    active INTEGER NOT NULL DEFAULT 0,
    clean_env INTEGER NOT NULL DEFAULT 0,
    trigger TEXT NOT NULL,
    reason TEXT
);

CREATE INDEX deployments_by_app ON deployments (app, id DESC);
