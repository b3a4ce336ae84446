#!/usr/bin/env bash
# Install objmgr as a systemd service on a Debian host, or upgrade it in place.
# Safe to run again: what is already in place is left alone, and the service is
# restarted only when something it runs changed.
#
#   sudo deploy/install.sh                install or upgrade, then enable and start
#   deploy/install.sh --dry-run           print every step, change nothing
#   DESTDIR=/tmp/root deploy/install.sh   stage the files under /tmp/root (as a package
#                                         build would); no apt-get, no systemctl
#
# What it puts where:
#   /opt/objmgr/venv                     a venv with objmgr, its client (objmgr-client,
#                                        from clients/python) and their dependencies
#   /opt/objmgr/deploy/gunicorn.conf.py  gunicorn's settings (read from OBJMGR_*)
#   /etc/systemd/system/objmgr.service   the unit
#   /etc/objmgr/objmgr.env               tokens and settings; written once with a new
#                                        random admin token, never overwritten
#
# Environment: DESTDIR (a root to stage into), OBJMGR_PREFIX (/opt/objmgr),
# OBJMGR_PYTHON (python3, 3.11 or newer), OBJMGR_PIP_OPTS (extra pip arguments).
set -euo pipefail
# The venv must be readable by the service's (dynamic) user whatever root's umask is.
umask 022

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${OBJMGR_PREFIX:-/opt/objmgr}
PYTHON=${OBJMGR_PYTHON:-python3}
read -r -a PIP_OPTS <<<"${OBJMGR_PIP_OPTS:-}"
DRY_RUN=0
CHANGED=0

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run | -n) DRY_RUN=1 ;;
        --destdir) DESTDIR=${2:?--destdir needs a directory}; shift ;;
        --destdir=*) DESTDIR=${1#--destdir=} ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
DESTDIR=${DESTDIR%/}
if [ "$DRY_RUN" = 1 ]; then
    echo "objmgr install: dry run; the + lines are what would run, nothing is changed"
fi

VENV=$DESTDIR$PREFIX/venv
UNIT=$DESTDIR/etc/systemd/system/objmgr.service
ENV_FILE=$DESTDIR/etc/objmgr/objmgr.env
STAMP=$DESTDIR$PREFIX/.installed-source.sha256

say() { printf 'objmgr install: %s\n' "$*"; }

# Runs a command that changes the system, or only shows it under --dry-run.
run() {
    if [ "$DRY_RUN" = 1 ]; then
        printf '+ %s\n' "$*"
    else
        "$@"
    fi
}

# Copies a file only when its content differs, so a second run changes nothing.
put() {
    local source=$1 target=$2 mode=$3
    if [ -f "$target" ] && cmp -s "$source" "$target"; then
        say "unchanged $target"
        return
    fi
    run install -D -m "$mode" "$source" "$target"
    say "installed $target"
    CHANGED=1
}

# What pip installs from the source tree: the server and its client, without the
# client's tests or what a build of it leaves behind.
PACKAGE_SOURCES=(app pyproject.toml README.md clients/python/pyproject.toml
    clients/python/README.md clients/python/src)
NOT_INSTALLED=(--exclude=__pycache__ --exclude='*.pyc' --exclude='*.egg-info' --exclude=build)

# A digest of everything pip would install from the source tree.
source_digest() {
    (
        cd "$SRC"
        find "${PACKAGE_SOURCES[@]}" -type f ! -name '*.pyc' ! -path '*/__pycache__/*' \
            ! -path '*.egg-info/*' ! -path '*/build/*' -print0 \
            | LC_ALL=C sort -z | xargs -0 sha256sum
    ) | sha256sum | cut -d' ' -f1
}

if [ "$DRY_RUN" = 0 ] && [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (sudo), or stage with DESTDIR=... or preview with --dry-run" >&2
    exit 1
fi

# 1. Python 3.11+ with venv (Debian keeps venv in a package of its own).
if [ -z "$DESTDIR" ] && ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    run apt-get update -qq
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv
fi
if [ "$DRY_RUN" = 0 ] || command -v "$PYTHON" >/dev/null; then
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "install.sh: objmgr needs Python 3.11 or newer; $PYTHON is older" >&2
        exit 1
    fi
fi

# 2. The venv, and the packages in it when the source differs from what was installed.
if [ -x "$VENV/bin/python" ]; then
    say "unchanged $VENV"
else
    run "$PYTHON" -m venv "$VENV"
    say "created $VENV"
fi
digest=$(source_digest)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$digest" ]; then
    say "unchanged objmgr packages in $VENV"
else
    # Built from a copy: pip builds in the tree it is given, and the checkout stays as it was.
    build=$SRC
    if [ "$DRY_RUN" = 0 ]; then
        build=$(mktemp -d)
        trap 'rm -rf "$build"' EXIT
        tar -C "$SRC" "${NOT_INSTALLED[@]}" -cf - "${PACKAGE_SOURCES[@]}" | tar -C "$build" -xf -
    fi
    # Both at once: the server's pin on objmgr-client is met by the client beside it.
    run "$VENV/bin/pip" install --quiet --disable-pip-version-check ${PIP_OPTS[@]+"${PIP_OPTS[@]}"} \
        "$build/clients/python" "$build"
    if [ "$DRY_RUN" = 1 ]; then
        printf '+ echo %s > %s\n' "$digest" "$STAMP"
    else
        echo "$digest" >"$STAMP"
    fi
    say "installed objmgr and objmgr-client from $SRC into $VENV"
    CHANGED=1
fi

# 3. gunicorn's settings, the README the unit points to, the unit.
put "$SRC/deploy/gunicorn.conf.py" "$DESTDIR$PREFIX/deploy/gunicorn.conf.py" 0644
put "$SRC/README.md" "$DESTDIR$PREFIX/README.md" 0644
put "$SRC/deploy/objmgr.service" "$UNIT" 0644

# 4. Settings and tokens: the operator's from the first run on, never overwritten.
if [ -e "$ENV_FILE" ]; then
    say "kept $ENV_FILE"
elif [ "$DRY_RUN" = 1 ]; then
    printf '+ write %s (mode 0600) from deploy/objmgr.env.example with a new admin token\n' \
        "$ENV_FILE"
else
    secret=$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(32))')
    install -d -m 0755 "$(dirname "$ENV_FILE")"
    (
        umask 077
        sed "s|^OBJMGR_TOKENS=.*|OBJMGR_TOKENS=admin:$secret|" \
            "$SRC/deploy/objmgr.env.example" >"$ENV_FILE.tmp"
        mv "$ENV_FILE.tmp" "$ENV_FILE"
    )
    chmod 0600 "$ENV_FILE"
    say "wrote $ENV_FILE with a new admin token (clients send it as 'Authorization: Bearer ...')"
fi

# 5. systemd: enable, and start, or restart when what it runs changed.
if [ -n "$DESTDIR" ]; then
    say "staged under $DESTDIR; skipped systemctl (the staged tree is not the running system)"
    exit 0
fi
was_running=0
if systemctl is-active --quiet objmgr.service 2>/dev/null; then
    was_running=1
fi
run systemctl daemon-reload
run systemctl enable --now objmgr.service
# enable --now leaves a running service alone; an upgrade must replace it.
if [ "$CHANGED" = 1 ] && [ "$was_running" = 1 ]; then
    run systemctl restart objmgr.service
fi
say "done: systemctl status objmgr; journalctl -u objmgr"
