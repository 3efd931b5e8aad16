#!/bin/sh
# schemathesis against a live geopublish API's own OpenAPI document (GET only, every phase),
# as a measurement: 5xx and undecodable responses (a gzip label on a plain body makes the
# client fail to decode) are the failures looked for.
#   bench/serve/fuzz.sh http://127.0.0.1:5000 180 > /tmp/fuzz-gpkg.txt
# schemathesis lives in its own virtualenv (SCHEMATHESIS, default /tmp/st-venv/bin/schemathesis:
# python3 -m venv /tmp/st-venv && /tmp/st-venv/bin/pip install schemathesis==4.32.5).
set -u
URL=$1
SECONDS_BUDGET=${2:-180}
ST=${SCHEMATHESIS:-/tmp/st-venv/bin/schemathesis}
exec "$ST" run "$URL/openapi?f=json" \
  --include-method GET \
  --checks not_a_server_error \
  --max-time "$SECONDS_BUDGET" \
  --workers 2 \
  --wait-for-schema 120 \
  --no-color
