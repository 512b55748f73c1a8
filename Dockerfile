FROM python:3.11-slim
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY tallywatch tallywatch
COPY crawler crawler
COPY scheduler scheduler
COPY alerts alerts
COPY web web
RUN uv pip install --system --no-cache .
USER nobody
ENTRYPOINT []
CMD ["tallywatch", "run"]
