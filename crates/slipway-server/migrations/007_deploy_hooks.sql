-- The inbound deployment webhook's secret (POST /hooks/APP/SECRET), as a sha256 hash; NULL
-- until one is made with `slipway webhook APP --reset`.
ALTER TABLE apps ADD COLUMN hook_secret_hash TEXT;
