-- Deployments numbered per app (v1, v2, …), as people see them; `id` stays the internal key.
ALTER TABLE deployments ADD COLUMN number INTEGER;
UPDATE deployments SET number = (
    SELECT COUNT(*) FROM deployments AS earlier WHERE earlier.app = deployments.app AND earlier.id <= deployments.id
);
CREATE UNIQUE INDEX deployments_by_number ON deployments (app, number);
