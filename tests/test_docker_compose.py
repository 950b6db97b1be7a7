"""docker-compose.yml and the Dockerfile hold together: what they build exists, what they run
parses, the settings they pass are read by the code, GPUs are reserved as the workers use
them, state lives on volumes, and the API is published on loopback only. Static checks: no
Docker needed. What each image installs is checked in tests/test_docker_images.py."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from backend.app.core.config import Settings
from runboard.cli.main import build_parser
from tests.support.compose import (
    COMPOSE_FILE,
    ROOT,
    SOURCES,
    VARIABLE,
    arguments_of,
    built_services,
    command_of,
    compose,
    dockerfile_of,
    environment_of,
    gpu_reservations,
    instructions,
    is_worker,
    services,
    stages,
    volume_holding,
)


def test_every_built_service_uses_an_existing_dockerfile_whose_copy_sources_exist() -> None:
    assert built_services(), "no service builds the project's image"
    for name, service in built_services().items():
        context, dockerfile = dockerfile_of(service)
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"
        for keyword, text in instructions(dockerfile):
            if keyword not in ("COPY", "ADD"):
                continue
            words = arguments_of(text)
            if any(word.startswith("--from") for word in words):
                continue  # copies from another stage or image, not from the context
            sources = [word for word in words if not word.startswith("--")][:-1]
            assert sources, f"{name}: {keyword} {text} names no source"
            for source in sources:
                assert list(context.glob(source)), f"{name}: {keyword} source {source} is missing"


def test_every_command_of_the_image_parses_with_the_runboard_command_line() -> None:
    _, dockerfile = dockerfile_of(next(iter(built_services().values())))
    for stage, steps in stages(dockerfile).items():
        entrypoint: list[str] = []
        default: list[str] = []
        for keyword, text in steps:
            if keyword == "ENTRYPOINT":
                entrypoint = arguments_of(text)
            elif keyword == "CMD":
                default = arguments_of(text)
        assert entrypoint == ["runboard"], f"{stage}: the commands are arguments of `runboard`"
        assert default or stage not in ("", "api", "worker"), f"{stage or 'the image'}: no CMD"
        if default:
            build_parser().parse_args(default)
    for name, service in built_services().items():
        if "command" in service:
            try:
                build_parser().parse_args(command_of(service))
            except Exception as exc:
                pytest.fail(f"{name}: `runboard {' '.join(command_of(service))}`: {exc}")


def test_every_runboard_variable_in_compose_and_the_dockerfile_is_read_by_the_code() -> None:
    sources = "\n".join(
        path.read_text() for folder in SOURCES for path in (ROOT / folder).rglob("*.py")
    )
    known = set(VARIABLE.findall(sources))
    # The API's settings are read by pydantic-settings: RUNBOARD_ plus the field's name.
    known |= {f"RUNBOARD_{field.upper()}" for field in Settings.model_fields}
    _, dockerfile = dockerfile_of(next(iter(built_services().values())))
    used = set(VARIABLE.findall(COMPOSE_FILE.read_text())) | set(
        VARIABLE.findall(dockerfile.read_text())
    )
    assert used, "no RUNBOARD_* setting found: has the pattern gone stale?"
    assert used <= known, f"set but read nowhere: {sorted(used - known)}"


# ---- what the services run on --------------------------------------------------------------


def test_each_gpu_worker_reserves_its_own_gpu_and_pins_it_as_its_container_sees_it() -> None:
    reserved: dict[str, str] = {}
    for name, service in services().items():
        gpus = gpu_reservations(service)
        pinned = build_parser().parse_args(command_of(service)).gpu if is_worker(service) else None
        if not gpus:
            assert pinned is None, f"{name}: pins GPU {pinned} but reserves no GPU"
            continue
        assert is_worker(service), f"{name}: reserves a GPU but is no worker"
        assert len(gpus) == 1 and gpus[0].get("driver") == "nvidia", f"{name}: {gpus}"
        ids = [str(device) for device in gpus[0].get("device_ids", [])]
        assert len(ids) == 1, f"{name}: reserve exactly one GPU by device_ids, not {gpus[0]}"
        assert ids[0] not in reserved, f"{name} and {reserved.get(ids[0])} share GPU {ids[0]}"
        reserved[ids[0]] = name
        # A container sees the GPUs reserved for it numbered from 0: the one GPU of a worker
        # is device 0 in there, whatever its number on the host (--gpu 1 would see no GPU).
        assert pinned == 0, f"{name}: pins GPU {pinned}; its container sees host GPU {ids[0]} as 0"
    assert reserved, "no worker reserves a GPU"


def test_a_cpu_profile_runs_a_worker_without_a_gpu() -> None:
    cpu_workers = [
        name
        for name, service in services().items()
        if "cpu" in service.get("profiles", [])
        and is_worker(service)
        and not gpu_reservations(service)
        and build_parser().parse_args(command_of(service)).gpu is None
    ]
    assert cpu_workers, "no worker in the `cpu` profile that runs without a GPU"


def test_the_database_data_and_checkpoints_live_on_declared_volumes() -> None:
    declared = set(compose().get("volumes") or {})
    api = services()["api"]
    database_url = environment_of(api)["RUNBOARD_DATABASE_URL"]
    if database_url.startswith("sqlite:"):
        path = database_url.split(":///", 1)[1]
        assert path.startswith("/"), f"the API's database {path} is not an absolute path"
        volume = volume_holding(api, str(PurePosixPath(path).parent))
        assert volume in declared, f"the API's database {path} is not on a declared volume"
    else:  # the postgres service keeps its cluster on a volume
        postgres = services()["postgres"]
        assert volume_holding(postgres, "/var/lib/postgresql/data") in declared
    workers = {name: service for name, service in services().items() if is_worker(service)}
    assert workers
    for name, service in workers.items():
        env = environment_of(service)
        for setting in ("RUNBOARD_DATA_DIR", "RUNBOARD_CHECKPOINT_DIR"):
            assert setting in env, f"{name}: {setting} is not set"
            volume = volume_holding(service, env[setting])
            assert volume in declared, f"{name}: {setting}={env[setting]} is not on a volume"


def test_the_api_runs_two_processes_on_the_postgres_service() -> None:
    api, postgres = services()["api"], services()["postgres"]
    assert build_parser().parse_args(command_of(api)).api_workers == 2
    url = environment_of(api)["RUNBOARD_DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://") and "@postgres:5432/" in url, url
    depends = api.get("depends_on") or {}
    assert "postgres" in depends and "ports" not in postgres  # not published at all
    user = postgres["environment"]["POSTGRES_USER"]
    password = postgres["environment"]["POSTGRES_PASSWORD"]
    database = postgres["environment"]["POSTGRES_DB"]
    assert url.endswith(f"://{user}:{password}@postgres:5432/{database}")


def test_published_ports_listen_on_loopback_only() -> None:
    api_ports = [str(port) for port in services()["api"].get("ports", [])]
    assert any(port.endswith(":8000") for port in api_ports), "the API's port is not published"
    for name, service in services().items():
        for port in service.get("ports", []):
            published = port if isinstance(port, dict) else {"raw": str(port)}
            if "raw" in published:
                assert published["raw"].startswith("127.0.0.1:"), f"{name}: {port}"
            else:
                assert published.get("host_ip") == "127.0.0.1", f"{name}: {port}"


# ---- what the image installs -------------------------------------------------------------
