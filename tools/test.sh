#!/usr/bin/env bash
# The test command: set up (tools/setup.sh --dev), build the headless OpenXR runtime when
# ../shared/xr is beside the repository (cached under /var/cache/artem-xr), assemble the real
# test data when ../shared/data is (cached under /var/cache/artem-data; a set ARTEM_VR_TEST_DATA
# is used instead; a failed download skips the tests that need it, saying why), run pytest.
# Exits 0 only when tests ran and passed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh --dev
if [ -x ../shared/xr/setup-monado.sh ] && [ -f .ci/xr-setup.sh ]; then
  bash .ci/xr-setup.sh
fi
if [ -z "${ARTEM_VR_TEST_DATA:-}" ] && [ -f ../shared/data/assemble.sh ] && [ -f .ci/data-setup.sh ]; then
  ARTEM_VR_TEST_DATA=$(bash .ci/data-setup.sh) || true  # on failure: its line printed, the folder says why
  export ARTEM_VR_TEST_DATA
fi
export PYTHONUNBUFFERED=1
set +e
.venv/bin/python -m pytest -q -ra --timeout=900 "$@"
rc=$?
set -e
if [ $rc = 5 ]; then echo "no tests ran" >&2; exit 1; fi
exit $rc
