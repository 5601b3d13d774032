# One image for every Streetlight role; docker-compose.yml picks the role with its command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY streetlight ./streetlight
COPY gateway ./gateway
COPY controller ./controller
COPY api ./api
COPY simulator ./simulator
COPY dashboards ./dashboards
COPY examples ./examples
COPY profiles ./profiles
# urllib3-future from source without its override of urllib3 (see the Makefile)
RUN URLLIB3_NO_OVERRIDE=1 pip install --no-cache-dir --no-binary urllib3-future \
    -c constraints.txt .
RUN useradd --system --uid 1000 streetlight && mkdir -p /app/var && chown streetlight /app/var
USER streetlight
ENV STREETLIGHT_VAR_DIR=/app/var
ENTRYPOINT ["streetlight"]
