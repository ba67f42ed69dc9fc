-- How many processes of each type an app runs (`slipway ps scale`); a type not here runs one.
CREATE TABLE formation (
    app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (app, kind)
);

-- One-off commands: `slipway run` ('run') and cron jobs ('cron'). Their output is in
-- LogFiles/runs/<id>.log.
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    trigger TEXT NOT NULL,
    command TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    exit_code INTEGER,
    outcome TEXT
);

CREATE INDEX runs_by_app ON runs (app, id DESC);
