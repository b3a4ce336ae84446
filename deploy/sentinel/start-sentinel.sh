#!/bin/sh
# Starts one sentinel of docker-compose.sentinel.yml (the image's `sh` runs it).
#   OBJMGR_SENTINEL_ANNOUNCE  the name the other sentinels and objmgr reach this one by
#   OBJMGR_REDIS_PASSWORD_FILE, OBJMGR_SENTINEL_PORT, OBJMGR_SENTINEL_DATA,
#   OBJMGR_REDIS_CONF_DIR
#   OBJMGR_SENTINEL_BIND      addresses to listen on (unset: every interface of the container)
#   OBJMGR_SENTINEL_MONITOR   "HOST PORT" of the primary, instead of the file's (tests)
set -eu
# Whatever the server writes (its rewritten config holds the password) is its own.
umask 077
conf_dir=${OBJMGR_REDIS_CONF_DIR:-/etc/objmgr-redis}
data=${OBJMGR_SENTINEL_DATA:-/data}
port=${OBJMGR_SENTINEL_PORT:-26379}
password_file=${OBJMGR_REDIS_PASSWORD_FILE:-/run/secrets/redis_password}
announce=${OBJMGR_SENTINEL_ANNOUNCE:?the name this sentinel is reached by}
conf="$data/sentinel.conf"

password=$(cat "$password_file")
if [ -z "$password" ]; then
  echo "start-sentinel: $password_file is empty" >&2
  exit 1
fi
case "$password" in
  *[[:space:]\"\']*)
    echo "start-sentinel: the password in $password_file holds a space or a quote" >&2
    exit 1
    ;;
esac

# Once: after that the copy is the sentinel's to rewrite.
if [ ! -f "$conf" ]; then
  {
    echo "port $port"
    echo "dir $data"
    if [ -n "${OBJMGR_SENTINEL_BIND:-}" ]; then
      echo "bind $OBJMGR_SENTINEL_BIND"
    fi
    if [ -n "${OBJMGR_SENTINEL_MONITOR:-}" ]; then
      sed "s/^sentinel monitor objmgr [^ ]* [0-9]* /sentinel monitor objmgr $OBJMGR_SENTINEL_MONITOR /" \
        "$conf_dir/sentinel.conf"
    else
      cat "$conf_dir/sentinel.conf"
    fi
    echo "sentinel announce-ip $announce"
    echo "sentinel announce-port $port"
  } >"$conf"
fi
# Every start: the primary's password as the file has it now.
grep -v -e '^sentinel auth-pass objmgr ' "$conf" >"$conf.new" || true
printf 'sentinel auth-pass objmgr %s\n' "$password" >>"$conf.new"
chmod 0600 "$conf.new"
mv "$conf.new" "$conf"

if command -v docker-entrypoint.sh >/dev/null 2>&1; then
  exec docker-entrypoint.sh redis-server "$conf" --sentinel
fi
exec redis-server "$conf" --sentinel
