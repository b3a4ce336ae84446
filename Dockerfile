# objmgr: docker build -t objmgr . && docker run -p 5000:5000 \
#   -e OBJMGR_TOKENS="admin:$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')" objmgr
# The image serves in production mode, so it refuses to start without tokens (or
# OBJMGR_AUTH=disabled), and with a secret shorter than 16 characters or a placeholder;
# docker-compose.dev.yml runs it in development mode.

# --- build: the package and its dependencies in a venv, nothing else -----------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/objmgr/venv
WORKDIR /src
# Dependencies change less often than the code: a layer of their own.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; \
print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
    > /tmp/requirements.txt \
 && /opt/objmgr/venv/bin/pip install -r /tmp/requirements.txt
COPY app ./app
# Not editable: the package with its GraphiQL assets and page goes into site-packages.
RUN /opt/objmgr/venv/bin/pip install --no-deps . \
 && /opt/objmgr/venv/bin/python -c "import importlib.resources as r; \
assert r.files('app.api').joinpath('static/graphiql/graphiql.min.js').is_file(); \
assert r.files('app.api').joinpath('templates/graphiql.html').is_file()"

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
