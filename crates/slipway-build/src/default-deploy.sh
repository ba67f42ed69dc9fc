#!/usr/bin/env bash
# slipway's default build, as a custom deployment script.
#
# To use it, commit it as deploy.sh with a .deployment file beside it:
#     [config]
#     command = deploy.sh
# slipway then runs it from the repository checkout instead of the default build, with
# DEPLOYMENT_SOURCE (the app's folder: the checkout, or its PROJECT subfolder), DEPLOYMENT_TARGET,
# DEPLOYMENT_TEMP, PREVIOUS_MANIFEST_PATH, NEXT_MANIFEST_PATH, PYTHON, PYTHON_VERSION, SLIPWAY_ENV,
# SLIPWAY_CLEAN_ENV, SLIPWAY_PACKAGE_MANAGER (pip, uv, poetry, pipenv or none), SLIPWAY_TOOLS_DIR
# and every app setting in its environment. A non-zero exit fails the deployment.
set -euo pipefail

# 1. Copy the checkout into wwwroot; delete what the previous deployment brought and this one doesn't.
slipway build sync --source "$DEPLOYMENT_SOURCE" --target "$DEPLOYMENT_TARGET" \
    --previous-manifest "$PREVIOUS_MANIFEST_PATH" --next-manifest "$NEXT_MANIFEST_PATH"

# To start from a fresh virtual environment on every deployment, uncomment:
# rm -rf "$SLIPWAY_ENV"

# 2. Create env, or reuse it when it is compatible with $PYTHON.
clean_env=()
if [ "${SLIPWAY_CLEAN_ENV:-0}" = 1 ]; then clean_env=(--clean-env); fi
slipway build env --target "$DEPLOYMENT_TARGET" --python "$PYTHON" "${clean_env[@]}"

# 3. Install the app's dependencies into env, with its package manager: requirements.txt (uv or
#    pip), uv.lock (uv sync), poetry.lock (poetry sync), Pipfile.lock (its pinned, hashed packages)
#    or pyproject.toml's [project] dependencies (uv). Skipped when nothing changed since the last
#    install; packages no longer wanted are removed.
slipway build install --target "$DEPLOYMENT_TARGET"

# 4. Django: manage.py collectstatic, unless DISABLE_COLLECTSTATIC is true.
slipway build collectstatic --target "$DEPLOYMENT_TARGET"
