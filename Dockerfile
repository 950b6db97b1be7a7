# runboard: two images from one Dockerfile (docker-compose.yml picks the target and command).
#   --target api     the API and the dashboard: `pip install .`, no torch
#   --target worker  the workers: `pip install .[train]`, with torch and torchvision
FROM python:3.11-slim AS base

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    RUNBOARD_DATA_DIR=/data/cifar \
    RUNBOARD_CHECKPOINT_DIR=/checkpoints

WORKDIR /app
# Dependencies first, so that code changes do not reinstall them (nor torch, below).
COPY pyproject.toml README.md ./
COPY backend/__init__.py backend/__init__.py
COPY worker/__init__.py worker/__init__.py
COPY runboard/__init__.py runboard/__init__.py
RUN pip install .
ENTRYPOINT ["runboard"]

FROM base AS worker
RUN pip install ".[train]"
COPY backend backend
COPY worker worker
COPY runboard runboard
COPY frontend frontend
RUN pip install --no-deps .
CMD ["worker"]

# The last stage is what a plain `docker build .` makes: the API.
FROM base AS api
COPY backend backend
COPY worker worker
COPY runboard runboard
COPY frontend frontend
RUN pip install --no-deps .
EXPOSE 8000
CMD ["serve", "--host", "0.0.0.0"]
