-- Custom domains: each belongs to one app. Their certificates are files under certs/.
CREATE TABLE domains (
    domain TEXT PRIMARY KEY,
    app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    created_at TEXT NOT NULL
);

CREATE INDEX domains_by_app ON domains (app);
