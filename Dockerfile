# One image for the connector, the stream worker and the simulator (`cfkafka run|streams|sim`).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY connector ./connector
COPY streams ./streams
COPY schemas ./schemas
COPY sim ./sim
COPY infra ./infra
RUN pip install --no-cache-dir . && useradd --create-home cfkafka
USER cfkafka
WORKDIR /home/cfkafka
ENTRYPOINT ["cfkafka"]
CMD ["run"]
