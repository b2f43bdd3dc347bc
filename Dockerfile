# verifier: one image runs the CLI now, and the API and workers once the service lands.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN useradd --create-home --uid 10001 verifier
WORKDIR /app
COPY pyproject.toml README.md ./
COPY verifier ./verifier
COPY detectors ./detectors
COPY api ./api
COPY models ./models
COPY samples ./samples
RUN pip install . && verifier detectors
USER verifier
ENTRYPOINT ["verifier"]
CMD ["analyze", "samples/camera.jpg"]
