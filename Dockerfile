# runboard: one image for the API and the workers (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    RUNBOARD_DATA_DIR=/data/cifar \
    RUNBOARD_CHECKPOINT_DIR=/checkpoints

WORKDIR /app
# Dependencies first, so that code changes do not reinstall torch.
COPY pyproject.toml README.md ./
COPY backend/__init__.py backend/__init__.py
COPY worker/__init__.py worker/__init__.py
RUN pip install "torch>=2.4,<2.15" "torchvision>=0.19,<0.30" && pip install .
COPY backend backend
COPY worker worker
COPY frontend frontend
RUN pip install --no-deps .

EXPOSE 8000
ENTRYPOINT ["runboard"]
CMD ["serve", "--host", "0.0.0.0"]
