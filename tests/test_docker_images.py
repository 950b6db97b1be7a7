"""Each image the Dockerfile builds installs what its code imports: the workers' with torch,
the API's without. Static checks: no Docker needed."""

from __future__ import annotations

import ast
import importlib.metadata
import shlex
import sys
import tomllib

from packaging.requirements import Requirement

from tests.support.compose import (
    API_SOURCES,
    COMPOSE_FILE,
    ROOT,
    SOURCES,
    TORCH,
    built_services,
    dockerfile_of,
    is_worker,
    services,
    stages,
    target_of,
)


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
