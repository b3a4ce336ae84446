#!/bin/sh
# Starts one Redis node of docker-compose.sentinel.yml (the image's `sh` runs it).
#   OBJMGR_REDIS_ANNOUNCE    the name the other node and the sentinels reach this one by
#   OBJMGR_REDIS_REPLICA_OF  "HOST PORT" of the primary on the first start of a replica
#   OBJMGR_REDIS_PASSWORD_FILE, OBJMGR_REDIS_PORT, OBJMGR_REDIS_DATA, OBJMGR_REDIS_CONF_DIR
#   OBJMGR_REDIS_BIND        addresses to listen on (unset: every interface of the container)
# The password comes from the file, never from the command line (which `ps` shows).
set -eu
# Whatever the server writes (its rewritten config holds the password) is its own.
umask 077
conf_dir=${OBJMGR_REDIS_CONF_DIR:-/etc/objmgr-redis}
data=${OBJMGR_REDIS_DATA:-/data}
port=${OBJMGR_REDIS_PORT:-6379}
password_file=${OBJMGR_REDIS_PASSWORD_FILE:-/run/secrets/redis_password}
announce=${OBJMGR_REDIS_ANNOUNCE:?the name this node is reached by}
conf="$data/redis.conf"

password=$(cat "$password_file")
if [ -z "$password" ]; then
  echo "start-redis: $password_file is empty" >&2
  exit 1
fi
case "$password" in
  *[[:space:]\"\']*)
    echo "start-redis: the password in $password_file holds a space or a quote" >&2
    exit 1
    ;;
esac

# Once: after that the copy is Sentinel's to rewrite (a replica's `replicaof`).
if [ ! -f "$conf" ]; then
  {
    cat "$conf_dir/redis.conf"
    echo "port $port"
    echo "dir $data"
    if [ -n "${OBJMGR_REDIS_BIND:-}" ]; then
      echo "bind $OBJMGR_REDIS_BIND"
    fi
    echo "replica-announce-ip $announce"
    echo "replica-announce-port $port"
    if [ -n "${OBJMGR_REDIS_REPLICA_OF:-}" ]; then
      echo "replicaof $OBJMGR_REDIS_REPLICA_OF"
    fi
  } >"$conf"
fi
# Every start: the password as the file has it now (a rotated secret takes effect).
grep -v -e '^requirepass ' -e '^masterauth ' "$conf" >"$conf.new" || true
printf 'requirepass %s\nmasterauth %s\n' "$password" "$password" >>"$conf.new"
chmod 0600 "$conf.new"
mv "$conf.new" "$conf"

if command -v docker-entrypoint.sh >/dev/null 2>&1; then
  # The image's own: as root it hands the data to the redis user and drops to it.
  exec docker-entrypoint.sh redis-server "$conf"
fi
exec redis-server "$conf"
