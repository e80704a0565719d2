#!/usr/bin/env bash
# Create .venv with Python 3.10 and install faqbot with its locked dependencies.
# Idempotent: does nothing when .venv matches requirements.lock and pyproject.toml.
# Usage: scripts/bootstrap.sh [--dev]   (--dev adds test tools and Chromium)
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[ "${1:-}" = "--dev" ] && DEV=1
VENV=.venv

find_python() {
    for candidate in python3.10 "$HOME"/.pyenv/versions/3.10*/bin/python3.10 /root/.pyenv/versions/3.10*/bin/python3.10 \
                     /usr/local/bin/python3.10 /usr/bin/python3.10; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

if [ ! -x "$VENV/bin/python" ]; then
    if ! PY=$(find_python); then
        cat >&2 <<MSG
faqbot needs Python 3.10 (Rasa 3.6 supports 3.8-3.10) and none was found on PATH or under ~/.pyenv/versions.
Install it, for example:  pyenv install 3.10   or   apt-get install python3.10 python3.10-venv
MSG
        exit 1
    fi
    echo "creating $VENV with $PY"
    "$PY" -m venv "$VENV"
fi

pip_install() {
    # Some machines list local package mirrors that may be absent; pip warns per package.
    "$VENV/bin/python" -m pip install --quiet "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

# Each part is reinstalled only when its lock file changed.
stamp="$VENV/.faqbot-installed"
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    start=$(date +%s)
    pip_install --upgrade "pip>=24"
    pip_install -r requirements.lock
    pip_install --no-deps --no-build-isolation -e .
    echo "$want" > "$stamp"
    echo "installed dependencies in $(( $(date +%s) - start ))s"
fi
dev_stamp="$VENV/.faqbot-installed-dev"
dev_want=$(sha256sum requirements-dev.lock | cut -c1-16)
if [ "$DEV" = 1 ] && [ "$(cat "$dev_stamp" 2>/dev/null)" != "$dev_want" ]; then
    pip_install -r requirements-dev.lock
    echo "$dev_want" > "$dev_stamp"
fi

# OS packages the tests start for real: Chromium (browser tests), Redis and HAProxy (the scale-out tests,
# docs/scaling.md), PostgreSQL when no version is on the machine. Installed with apt-get, as root.
os_packages=()
[ -x /usr/bin/chromium ] || os_packages+=(chromium fonts-noto-core)
command -v redis-server >/dev/null 2>&1 || os_packages+=(redis-server)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || os_packages+=(haproxy)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || os_packages+=(postgresql)
if [ "$DEV" = 1 ] && [ ${#os_packages[@]} -gt 0 ]; then
    echo "installing ${os_packages[*]} for the tests (apt-get)"
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${os_packages[@]}" >/dev/null
    else
        echo "missing OS packages and this is not root: run 'sudo apt-get install ${os_packages[*]}'" >&2
        exit 1
    fi
fi

# Test-only browser tools from the npm registry (axe-core for the accessibility check), per package-lock.json.
npm_stamp="node_modules/.faqbot-installed"
npm_want=$(sha256sum package-lock.json | cut -c1-16)
if [ "$DEV" = 1 ] && [ "$(cat "$npm_stamp" 2>/dev/null)" != "$npm_want" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "npm is missing: install Node.js (apt-get install nodejs npm) for the browser tests' axe-core" >&2
        exit 1
    fi
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
    echo "$npm_want" > "$npm_stamp"
fi

# The third-party rasa-webchat widget, for the test that faqbot's socket.io channel works with it
# (tests/browser/test_rasa_webchat.py): one pinned package from the npm registry, not a dependency of
# faqbot. Only its self-contained bundle (lib/index.js, window.WebChat) and licence are kept, under var/
# (never committed), after checking the tarball against the integrity pinned here.
RASA_WEBCHAT=rasa-webchat@1.0.1
RASA_WEBCHAT_INTEGRITY="sha512-Ld1zVJvTAaTrs6A5p8t70agNNrKYRyXlvqXZRgBoDvKKUXbA0jhJKECi5bdPGlaR6jsmqWtVylHS+YqIqo0x8w=="
webchat_dir="var/test-tools/${RASA_WEBCHAT/@/-}"
if [ "$DEV" = 1 ] && [ ! -f "$webchat_dir/index.js" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack "$RASA_WEBCHAT" --loglevel=error >/dev/null)
    tarball=$(ls "$tmp"/*.tgz)
    got=$(node -e 'const c = require("crypto"), fs = require("fs");
        process.stdout.write("sha512-" + c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' "$tarball")
    if [ "$got" != "$RASA_WEBCHAT_INTEGRITY" ]; then
        echo "$RASA_WEBCHAT from the npm registry is not the pinned one ($got): not installed" >&2
        exit 1
    fi
    tar xzf "$tarball" -C "$tmp" package/lib/index.js package/LICENSE
    mkdir -p "$webchat_dir"
    cp "$tmp/package/lib/index.js" "$tmp/package/LICENSE" "$webchat_dir/"
    echo "installed $RASA_WEBCHAT for the browser tests in $webchat_dir"
fi
