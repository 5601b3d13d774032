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
RUN pip install --no-cache-dir -c constraints.txt .
RUN useradd --system --uid 1000 streetlight && mkdir -p /app/var && chown streetlight /app/var
USER streetlight
ENV STREETLIGHT_VAR_DIR=/app/var
ENTRYPOINT ["streetlight"]
