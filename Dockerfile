# One image for every Logos service; compose picks the service with LOGOS_SERVICE.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LOGOS_HOME=/srv/logos \
    LOGOS_CONTAINER=true

WORKDIR /app

# Dependencies first (their own layer): the runtime set of pyproject.toml, pinned by requirements.lock.
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/runtime.txt \
    && pip install -q -c requirements.lock -r /tmp/runtime.txt \
    && rm /tmp/runtime.txt

COPY README.md ./
COPY shared ./shared
COPY services ./services
COPY data/fixtures ./data/fixtures
RUN pip install -q --no-deps . \
    && useradd --system --create-home --uid 10001 logos \
    && mkdir -p /srv/logos/runs /srv/logos/logs /srv/logos/data/cache \
    && chown -R logos:logos /srv/logos

USER logos
WORKDIR /srv/logos
EXPOSE 8001 8002 8003 8004 8005 8501

HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD python -m services.healthcheck "$LOGOS_SERVICE" || exit 1

CMD ["sh", "-c", "exec logos serve \"$LOGOS_SERVICE\""]
