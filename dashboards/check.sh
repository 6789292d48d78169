#!/bin/sh
# Static checks for Ferry's Prometheus alerting rules:
#   promtool check rules  - syntax and PromQL of dashboards/alerts/ferry-rules.yaml
#   promtool test rules   - unit tests in dashboards/alerts/ferry-rules.test.yaml
# Called from `make test`. Needs promtool (Debian/Ubuntu: apt-get install prometheus;
# or the release tarball from https://prometheus.io/download/). Set PROMTOOL to
# use a promtool that is not on PATH.
set -eu

here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
promtool=${PROMTOOL:-promtool}

if ! command -v "$promtool" >/dev/null 2>&1; then
    echo "dashboards/check.sh: FAILED: '$promtool' not found." >&2
    echo "  Install it (apt-get install prometheus, or the Prometheus release tarball)" >&2
    echo "  or set PROMTOOL=/path/to/promtool. The alert rules were NOT checked." >&2
    exit 1
fi

"$promtool" --version 2>&1 | head -n 1

rules="$here/alerts/ferry-rules.yaml"
tests="$here/alerts/ferry-rules.test.yaml"
chart_rules="$here/../deploy/helm/ferry/files/ferry-rules.yaml"

"$promtool" check rules "$rules"
if [ -f "$chart_rules" ]; then
    # The Helm chart carries a copy (tests/deploy_files.rs checks it is identical).
    "$promtool" check rules "$chart_rules"
fi
# promtool resolves rule_files relative to the test file's directory.
"$promtool" test rules "$tests"
echo "dashboards/check.sh: OK"
