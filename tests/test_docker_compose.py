"""docker-compose.yml and the Dockerfile hold together: what they build exists, what they run
parses, the settings they pass are read by the code, GPUs are reserved as the workers use
them, state lives on volumes, the API is published on loopback only, and each image installs
what its code imports: the workers' with torch, the API's without. Static checks: no Docker
needed."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shlex
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from backend.app.core.config import Settings
from runboard.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SOURCES = ("backend", "worker", "runboard")
# What the API image runs (`runboard serve --no-worker`, the CLI without training): torch-free.
API_SOURCES = ("backend", "worker/schema", "runboard/cli", "runboard/*.py")
TORCH = {"torch", "torchvision"}
VARIABLE = re.compile(r"\bRUNBOARD_[A-Z0-9_]+\b")


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())  # merges <<: anchors
    return document


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def built_services() -> dict[str, dict[str, Any]]:
    """The services that run the project's own image."""
    return {name: service for name, service in services().items() if "build" in service}


def dockerfile_of(service: dict[str, Any]) -> tuple[Path, Path]:
    """(build context, Dockerfile) of a service that builds."""
    build = service["build"]
    if isinstance(build, str):
        build = {"context": build}
    context = (ROOT / build.get("context", ".")).resolve()
    return context, context / build.get("dockerfile", "Dockerfile")


def target_of(service: dict[str, Any]) -> str | None:
    build = service["build"]
    return None if isinstance(build, str) else build.get("target")


def instructions(dockerfile: Path) -> Iterator[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    logical = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        keyword, _, arguments = logical.partition(" ")
        yield keyword.upper(), arguments.strip()
        logical = ""


def stages(dockerfile: Path) -> dict[str, list[tuple[str, str]]]:
    """Stage name -> its instructions, those of the stages it is built FROM first; the last
    stage (what a build without a target makes) also under the name ''."""
    found: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for keyword, text in instructions(dockerfile):
        if keyword == "FROM":
            words = text.split()
            current = list(found.get(words[0], []))
            name = words[2] if len(words) > 2 and words[1].upper() == "AS" else f"#{len(found)}"
            found[name] = current
        current.append((keyword, text))
    found[""] = current
    return found


def arguments_of(text: str) -> list[str]:
    """Exec form (a JSON array) or shell form."""
    if text.startswith("["):
        parsed: list[str] = yaml.safe_load(text)
        return parsed
    return shlex.split(text)


def dockerfile_env(dockerfile: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, text in instructions(dockerfile):
        if keyword != "ENV":
            continue
        words = shlex.split(text)
        if "=" not in words[0]:  # the old `ENV KEY value` form
            env[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            key, _, value = word.partition("=")
            env[key] = value
    return env


def command_of(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    """The service's environment: the image's ENV, overridden by the compose file's."""
    _, dockerfile = dockerfile_of(service)
    env = dockerfile_env(dockerfile)
    declared = service.get("environment") or {}
    if isinstance(declared, list):
        declared = dict(item.split("=", 1) for item in declared)
    env.update({key: str(value) for key, value in declared.items() if value is not None})
    return env


def named_volume_mounts(service: dict[str, Any]) -> dict[PurePosixPath, str]:
    """Container path -> named volume, for the service's named-volume mounts."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            source, target = volume.get("source", ""), volume["target"]
        else:
            source, target = volume.split(":")[:2]
        if source and not source.startswith((".", "/", "~")):
            mounts[PurePosixPath(target)] = source
    return mounts


def volume_holding(service: dict[str, Any], path: str) -> str | None:
    """The named volume under which `path` lies in the service's container, if any."""
    inside = PurePosixPath(path)
    for target, volume in named_volume_mounts(service).items():
        if inside == target or target in inside.parents:
            return volume
    return None


def gpu_reservations(service: dict[str, Any]) -> list[dict[str, Any]]:
    devices = (
        service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
    )
    return [device for device in devices if "gpu" in device.get("capabilities", [])]


def is_worker(service: dict[str, Any]) -> bool:
    return "build" in service and command_of(service)[0] == "worker"


# ---- the build --------------------------------------------------------------------------


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


def _imported_modules(sources: tuple[str, ...] = SOURCES) -> dict[str, str]:
    """Top-level third-party modules imported by the code under `sources` (folders, files or
    globs) -> a file using it."""
    local = {"backend", "worker", "runboard", "__future__"}
    found: dict[str, str] = {}
    for source in sources:
        paths = [ROOT / source] if (ROOT / source).is_file() else list(ROOT.glob(source))
        for path in [
            p for root in paths for p in ([root] if root.is_file() else root.rglob("*.py"))
        ]:
            for node in ast.walk(ast.parse(path.read_text())):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for module in (name.split(".")[0] for name in names):
                    if module not in local and module not in sys.stdlib_module_names:
                        found.setdefault(module, str(path.relative_to(ROOT)))
    return found


def _installed_by(requirements: list[str]) -> set[str]:
    """Every distribution that installing `requirements` brings (per installed metadata)."""
    normal = {"extra": ""}
    todo = [Requirement(text) for text in requirements]
    seen: set[str] = set()
    while todo:
        requirement = todo.pop()
        name = requirement.name.lower().replace("_", "-")
        key = f"{name}[{','.join(sorted(requirement.extras))}]"
        if key in seen:
            continue
        seen.add(key)
        try:
            metadata = importlib.metadata.metadata(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in metadata.get_all("Requires-Dist") or []:
            dependency = Requirement(text)
            marker = dependency.marker
            wanted = marker is None or marker.evaluate(normal)
            wanted |= marker is not None and any(
                marker.evaluate({"extra": extra}) for extra in requirement.extras
            )
            if wanted:
                todo.append(dependency)
    return {key.split("[")[0] for key in seen}


def _missing(modules: dict[str, str], installed: set[str]) -> dict[str, str]:
    """The modules (-> a file using it) that no distribution in `installed` provides."""
    providers = importlib.metadata.packages_distributions()
    missing = {}
    for module, user in modules.items():
        distributions = {name.lower().replace("_", "-") for name in providers.get(module, [])}
        if not distributions & installed:
            missing[module] = user
    return missing


def _pip_installs(steps: list[tuple[str, str]]) -> list[str]:
    """The project requirements (`.`, `.[train]`) a stage's RUN lines pip-install."""
    found = []
    for keyword, text in steps:
        if keyword == "RUN" and "pip install" in text:
            found += [word for word in shlex.split(text) if word.startswith(".")]
    return found


def test_the_image_installs_every_package_the_api_and_the_workers_import() -> None:
    # The Dockerfile installs the project with `pip install .` (the API) or `.[train]` (the
    # workers; `make run` too): only the [project] dependencies, those of the extra, and
    # what they depend on get into an image.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = _installed_by(project["dependencies"])
    training = _installed_by(project["dependencies"] + project["optional-dependencies"]["train"])
    missing = _missing(_imported_modules(), training)
    assert not missing, f"imported but not in [project] dependencies or [train]: {missing}"
    missing = _missing(_imported_modules(API_SOURCES), base)
    assert not missing, f"the API imports what `pip install .` lacks: {missing}"
    assert not TORCH & base, "`pip install .` (the API) must not bring torch"
    assert training >= TORCH, "`pip install .[train]` (the workers) must bring torch"
    # The compose file's broker is Redis: Kombu needs the redis client for it.
    if "redis://" in COMPOSE_FILE.read_text():
        assert "redis" in base, "the Redis broker needs `redis` (e.g. celery[redis])"


def test_the_api_image_has_no_torch_and_the_workers_images_have_it() -> None:
    for name, service in built_services().items():
        _, dockerfile = dockerfile_of(service)
        installs = _pip_installs(stages(dockerfile)[target_of(service) or ""])
        trains = any("train" in requirement for requirement in installs)
        assert installs, f"{name}: its image does not install the project"
        if is_worker(service):
            assert trains, f"{name}: a worker's image needs `.[train]` (torch), has {installs}"
        else:
            assert not trains, f"{name}: only workers need torch, yet it installs {installs}"
    assert not is_worker(services()["api"])
