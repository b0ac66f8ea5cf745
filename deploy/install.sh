#!/bin/sh
# First installation on a Debian/Ubuntu host with systemd (docs/DEPLOYMENT.md, "First installation").
# Run as root from a checkout of the code:   sudo sh deploy/install.sh
# Safe to run again (upgrades the code and units; never overwrites an existing env file).
#
# What it does:
#   1. the service user (system account, home = the app directory, no login shell)
#   2. the app directory: code owned by root (the service can't rewrite it), var/ owned by the
#      service user; var/media and var/static world-readable so nginx (www-data) can serve them
#   3. the virtualenv with the pinned requirements
#   4. /etc/campuschat/env from deploy/env.example, mode 640 root:<service group>, with a fresh
#      SECRET_KEY and METRICS_TOKEN (edit the rest: hosts, DATABASE_URL, REDIS_URL, mail)
#   5. the systemd units and timers, the nginx site (sites-available; link it after editing)
#   6. /usr/local/bin/campuschat-manage: manage.py as the service user with the env file loaded
#
# Variables (defaults in brackets) — tests install into a scratch root with PREFIX:
#   PREFIX [] · APP_USER [campuschat] · APP_DIR [$PREFIX/srv/campuschat] · ETC_DIR [$PREFIX/etc/campuschat]
#   SYSTEMD_DIR [$PREFIX/etc/systemd/system] · NGINX_DIR [$PREFIX/etc/nginx] · BIN_DIR [$PREFIX/usr/local/bin]
#   PYTHON [python3] · VENV [$APP_DIR/.venv; set to an existing virtualenv to skip step 3]
set -eu

PREFIX=${PREFIX:-}
APP_USER=${APP_USER:-campuschat}
APP_DIR=${APP_DIR:-$PREFIX/srv/campuschat}
ETC_DIR=${ETC_DIR:-$PREFIX/etc/campuschat}
SYSTEMD_DIR=${SYSTEMD_DIR:-$PREFIX/etc/systemd/system}
NGINX_DIR=${NGINX_DIR:-$PREFIX/etc/nginx}
BIN_DIR=${BIN_DIR:-$PREFIX/usr/local/bin}
PYTHON=${PYTHON:-python3}
VENV=${VENV:-$APP_DIR/.venv}
SRC=$(cd "$(dirname "$0")/.." && pwd)

say() { printf '== %s\n' "$*"; }
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root (sudo sh deploy/install.sh)" >&2; exit 1; }

say "1. service user $APP_USER"
if ! id -u "$APP_USER" >/dev/null 2>&1; then
  useradd --system --user-group --home-dir "$APP_DIR" --no-create-home --shell /usr/sbin/nologin "$APP_USER"
fi

say "2. code in $APP_DIR, runtime files in $APP_DIR/var"
install -d -o root -g root -m 755 "$APP_DIR"
if [ "$SRC" != "$APP_DIR" ]; then
  # the checkout's files, without its virtualenv, runtime files or git metadata
  (cd "$SRC" && tar --exclude=./.venv --exclude=./var --exclude=./.git -cf - .) | tar -C "$APP_DIR" --no-same-owner -xf -
fi
install -d -o "$APP_USER" -g "$APP_USER" -m 755 "$APP_DIR/var" "$APP_DIR/var/media" "$APP_DIR/var/static"
install -d -o "$APP_USER" -g "$APP_USER" -m 700 "$APP_DIR/var/backups"

say "3. virtualenv $VENV"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -r "$APP_DIR/requirements.txt"
fi

say "4. environment file $ETC_DIR/env"
install -d -o root -g "$APP_USER" -m 750 "$ETC_DIR"
if [ ! -e "$ETC_DIR/env" ]; then
  secret=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(50))')
  token=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))')
  sed -e "s|^SECRET_KEY=.*|SECRET_KEY=$secret|" -e "s|^METRICS_TOKEN=.*|METRICS_TOKEN=$token|" \
      -e "s|/srv/campuschat/var|$APP_DIR/var|g" "$APP_DIR/deploy/env.example" > "$ETC_DIR/env.new"
  install -o root -g "$APP_USER" -m 640 "$ETC_DIR/env.new" "$ETC_DIR/env"
  rm -f "$ETC_DIR/env.new"
  echo "   created; now edit ALLOWED_HOSTS, CSRF_TRUSTED_ORIGINS, PUBLIC_BASE_URL, DATABASE_URL, REDIS_URL, EMAIL_*"
else
  echo "   exists; left alone (compare with deploy/env.example for new settings)"
fi

say "5. systemd units in $SYSTEMD_DIR, nginx site in $NGINX_DIR/sites-available"
install -d -m 755 "$SYSTEMD_DIR" "$NGINX_DIR/sites-available"
install -m 644 "$APP_DIR"/deploy/systemd/* "$SYSTEMD_DIR/"
install -m 644 "$APP_DIR/deploy/nginx.conf" "$NGINX_DIR/sites-available/campuschat"
if [ -z "$PREFIX" ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi

say "6. $BIN_DIR/campuschat-manage"
install -d -m 755 "$BIN_DIR"
cat > "$BIN_DIR/campuschat-manage" <<EOF
#!/bin/sh
# manage.py as $APP_USER with $ETC_DIR/env loaded (written by deploy/install.sh)
cd "$APP_DIR" || exit 1
if [ "\$(id -u)" -eq 0 ]; then
  exec runuser -u "$APP_USER" -- sh -c 'set -a; . "$ETC_DIR/env"; set +a; exec "$VENV/bin/python" manage.py "\$@"' campuschat-manage "\$@"
fi
set -a; . "$ETC_DIR/env"; set +a
exec "$VENV/bin/python" manage.py "\$@"
EOF
chmod 755 "$BIN_DIR/campuschat-manage"

say "done. Next (docs/DEPLOYMENT.md): edit $ETC_DIR/env, then campuschat-manage migrate / collectstatic / doctor"
