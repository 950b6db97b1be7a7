"""Readers of docker-compose.yml and the Dockerfile for the static tests of both: services,
stages, instructions, commands, environments, volumes and GPU reservations."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
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
