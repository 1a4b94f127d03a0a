# Image for docker-compose.yml: the web, worker and beat processes of OpsDuty.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_PROJECT_ENVIRONMENT=/venv PATH=/venv/bin:$PATH
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/* && pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock package.json package-lock.json ./
RUN uv sync --frozen --no-dev && npm ci --no-audit --no-fund
COPY . .
RUN OPSDUTY_SECRET_KEY=build python manage.py collectstatic --noinput -v0
RUN useradd --system --uid 1000 opsduty
USER opsduty
EXPOSE 8000
CMD ["uvicorn", "opsduty.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--lifespan", "off"]
