-- What a build did, as data: its steps ([{name, duration, outcome}], JSON) and the Python it used.
ALTER TABLE deployments ADD COLUMN steps TEXT;
ALTER TABLE deployments ADD COLUMN python_version TEXT;
-- When the deployment last became the live release (its success, or a rollback to it).
ALTER TABLE deployments ADD COLUMN activated_at TEXT;
