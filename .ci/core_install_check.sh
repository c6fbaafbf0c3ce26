#!/usr/bin/env bash
# `pip install mailhooks` with no extras brings only the core: the wheel and orjson, nothing
# else. Builds the wheel, installs it into an empty venv (orjson comes from PyPI), checks what
# got installed, that the core receives a post, and that `mailhooks` names the server extra.
# Run by .ci/run after `make test`; by hand: bash .ci/core_install_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export UV_PYTHON_DOWNLOADS=never

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

make --quiet .tools/bin/uv
.tools/bin/uv build --quiet --wheel --out-dir "$work/dist"
wheel=$(ls "$work"/dist/mailhooks-*.whl)
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "$wheel"

# What the venv brought itself (pip, and setuptools on older Pythons) is not counted.
installed=$("$work/venv/bin/pip" list --format=freeze --disable-pip-version-check \
    --exclude pip --exclude setuptools)
echo "installed by pip install $(basename "$wheel"):"
sed 's/^/  /' <<<"$installed"
names=$(sed 's/==.*//' <<<"$installed" | tr '[:upper:]' '[:lower:]' | sort | tr '\n' ' ')
if [ "$names" != "mailhooks orjson " ]; then
    echo "FAIL: a core install must bring exactly mailhooks and orjson, got: $names" >&2
    exit 1
fi

# Outside the source tree, so the installed wheel is what is imported.
cd "$work"
venv/bin/python -c "import mailhooks; print(mailhooks.receive)"
venv/bin/python - <<'PY'
import sys

import mailhooks

body, content_type = mailhooks.sample_body(
    mailhooks.Kind.DELIVERED, mailhooks.WireFormat.JSON, secret="k", server_id=1
)
result = mailhooks.receive(body, content_type, mailhooks.EndpointConfig(secrets=["k"], server_id=1))
assert isinstance(result, mailhooks.Accepted), result
# Beside the standard library only mailhooks and orjson (and setuptools' venv start-up hook).
loaded = {name.split(".")[0] for name in sys.modules} - set(sys.stdlib_module_names)
others = sorted(loaded - {"__main__", "_distutils_hack", "mailhooks", "orjson"})
assert not others, others
print(f"core receive: {result.event.kind.value} accepted, answer {result.answer.status}")
PY

expected="error: mailhooks serve and the CLI need the server extra: pip install 'mailhooks[server]'"
status=0
said=$(venv/bin/mailhooks --help 2>&1) || status=$?
echo "mailhooks --help (exit $status): $said"
if [ "$status" != 1 ] || [ "$said" != "$expected" ]; then
    echo "FAIL: without the server extra, mailhooks must exit 1 with: $expected" >&2
    exit 1
fi
echo "core install check passed"
