# objmgr: docker build -t objmgr . && docker run -p 5000:5000 \
#   -e OBJMGR_TOKENS="admin:$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')" objmgr
# The image serves in production mode, so it refuses to start without tokens (or
# OBJMGR_AUTH=disabled), and with a secret shorter than 16 characters or a placeholder;
# docker-compose.dev.yml runs it in development mode.

# --- build: the server and its client in a venv, with their dependencies, nothing else --
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/objmgr/venv
WORKDIR /src
# Dependencies change less often than the code: a layer of their own. objmgr-client
# is not on an index: it comes from clients/python below.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; \
dependencies = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
print('\n'.join(d for d in dependencies if not d.startswith('objmgr-client')))" \
    > /tmp/requirements.txt \
 && /opt/objmgr/venv/bin/pip install -r /tmp/requirements.txt
COPY clients/python ./clients/python
COPY app ./app
# Not editable: both packages, the GraphiQL assets and page and the dashboard with the server, go into
# site-packages; the server's pin on objmgr-client is met by the client beside it.
RUN /opt/objmgr/venv/bin/pip install ./clients/python . \
 && /opt/objmgr/venv/bin/pip check \
 && /opt/objmgr/venv/bin/python -c "import importlib.resources as r; \
assert r.files('app.api').joinpath('static/graphiql/graphiql.min.js').is_file(); \
assert r.files('app.api').joinpath('templates/graphiql.html').is_file(); \
assert r.files('app.dashboard').joinpath('static/dashboard.html').is_file(); \
import objmgr_client, app.cli"

# --- final: python, the venv, the gunicorn config --------------------------------
FROM python:3.11-slim
LABEL org.opencontainers.image.title="objmgr" \
      org.opencontainers.image.description="GraphQL object-pool (lease) service"
RUN groupadd --system --gid 10001 objmgr \
 && useradd --system --uid 10001 --gid objmgr --home-dir /var/lib/objmgr \
            --no-create-home --shell /usr/sbin/nologin objmgr \
 && mkdir -p /var/lib/objmgr \
 && chown objmgr:objmgr /var/lib/objmgr
COPY --from=build /opt/objmgr/venv /opt/objmgr/venv
COPY deploy/gunicorn.conf.py /opt/objmgr/deploy/gunicorn.conf.py
ENV PATH=/opt/objmgr/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    OBJMGR_ENV=production \
    OBJMGR_BIND=0.0.0.0:5000 \
    OBJMGR_STORE=sqlite:////var/lib/objmgr/objmgr.sqlite3
# The SQLite file (with its -wal and -shm files) lives here and must outlive the container.
VOLUME ["/var/lib/objmgr"]
WORKDIR /var/lib/objmgr
USER 10001:10001
EXPOSE 5000
# curl is not in the slim image; python is. The port follows OBJMGR_BIND.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('OBJMGR_BIND', '0.0.0.0:5000').rsplit(':', 1)[1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]
# gunicorn is PID 1, so docker stop's SIGTERM is its graceful shutdown. Worker heartbeat
# files go to /dev/shm: a container's /tmp may sit on a slow overlay filesystem.
CMD ["/opt/objmgr/venv/bin/gunicorn", "--config", "/opt/objmgr/deploy/gunicorn.conf.py", "--worker-tmp-dir", "/dev/shm", "app:create_app()"]
