# One image for every Streetlight role; docker-compose.yml picks the role with its command.
# The web console's npm packages (console/package-lock.json), installed in a stage of their own
FROM node:20-slim AS console
WORKDIR /console
COPY console/package.json console/package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev

FROM python:3.11-slim
# the reports' PDFs: WeasyPrint's Pango and HarfBuzz, fontconfig and the CJK font for Chinese
RUN apt-get update && apt-get install -y --no-install-recommends \
    libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*
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
COPY console/src ./console/src
COPY --from=console /console/node_modules ./console/node_modules
# urllib3-future from source without its override of urllib3 (see the Makefile)
RUN URLLIB3_NO_OVERRIDE=1 pip install --no-cache-dir --no-binary urllib3-future \
    -c constraints.txt .
RUN useradd --system --uid 1000 streetlight && mkdir -p /app/var && chown streetlight /app/var
USER streetlight
ENV STREETLIGHT_VAR_DIR=/app/var STREETLIGHT_API_CONSOLE_DIR=/app/console
ENTRYPOINT ["streetlight"]
