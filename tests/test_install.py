"""The package as a user installs it: a wheel built from this tree, installed into a fresh
venv (not editable, and run from an empty folder, so nothing of src/ is importable), then
`digest init`, `check`, `send --test` to a real SMTP server on 127.0.0.1, `build`, and the
preview's page and scripts served from the installed package."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from serve_helpers import wait_until_serving
from smtp_helpers import Server, free_port

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "newsletter_digest"
TOOLS = ("pytest", "hypothesis", "mkdocs", "ruff", "mypy", "playwright", "aiosmtpd", "trustme")


def _env() -> dict[str, str]:
    """This process's environment without anything that would import the source tree."""
    # Nor a make of ours above it (`make test`): its MAKEFLAGS and MAKELEVEL would change
    # what a `make` run here prints.
    dropped = ("PYTHONPATH", "VIRTUAL_ENV", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run(*args: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built once per session from a copy of the tree (no build/ or egg-info
    left in the worktree)."""
    tree = tmp_path_factory.mktemp("tree")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, tree / name)
    shutil.copytree(
        PACKAGE, tree / "src" / "newsletter_digest", ignore=shutil.ignore_patterns("__pycache__")
    )
    dist = tmp_path_factory.mktemp("dist")
    built = _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, tree, cwd=tree
    )
    assert built.returncode == 0, built.stderr
    (found,) = dist.glob("newsletter_digest-*.whl")
    return found


@pytest.fixture(scope="session")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel (and its runtime dependencies, from the registry)."""
    folder = tmp_path_factory.mktemp("venv")
    made = _run(sys.executable, "-m", "venv", folder, cwd=folder)
    assert made.returncode == 0, made.stderr
    installed = _run(folder / "bin" / "pip", "install", "-q", wheel, cwd=folder)
    assert installed.returncode == 0, installed.stderr
    return folder


# Building the wheel and installing its dependencies from the registry into a fresh venv
# takes about 1 minute on an idle machine (2 cores), up to 3 on a busy one; once a session.
SLOW = pytest.mark.timeout(900)


@SLOW
def test_the_wheel_holds_every_file_the_package_reads_and_no_dev_tool(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        path.relative_to(PACKAGE.parent).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert shipped - names == set()  # templates, static files, py.typed, every module
    metadata = (
        zipfile.ZipFile(wheel)
        .read(next(n for n in names if n.endswith(".dist-info/METADATA")))
        .decode()
    )
    runtime = [
        line.split(":", 1)[1].strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    assert runtime and not [dep for dep in runtime if dep.lower().startswith(TOOLS)]


def test_the_extras_split_test_docs_and_lint_tools_and_dev_has_them_all() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    assert {"test", "docs", "lint", "dev"} <= set(extras)
    assert not [d for d in project["dependencies"] if d.lower().startswith(TOOLS)]
    assert any(d.startswith("pytest") for d in extras["test"])
    assert any(d.startswith("mkdocs") for d in extras["docs"])
    assert {"ruff", "mypy", "import-linter"} <= {
        re.split(r"[<>=\[ ]", d)[0] for d in extras["lint"]
    }
    assert extras["dev"] == ["newsletter-digest[test,docs,lint]"]


@SLOW
def test_installed_digest_starts_checks_tests_and_builds_a_project(
    venv: Path, tmp_path: Path, servers: Callable[..., Server]
) -> None:
    digest = venv / "bin" / "digest"
    empty = tmp_path / "empty"
    empty.mkdir()
    where = _run(
        venv / "bin" / "python", "-c", "import newsletter_digest as n; print(n.__file__)", cwd=empty
    )
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout  # not src/
    listed = _run(venv / "bin" / "pip", "list", "--format=freeze", cwd=empty).stdout.lower()
    assert not [tool for tool in TOOLS if f"\n{tool}==" in f"\n{listed}"], listed

    started = _run(digest, "init", "news", cwd=empty)
    assert started.returncode == 0, started.stderr
    project = empty / "news"
    # The templates README says where the shipped templates are, as a folder to copy from
    # (no `python` of the install is on PATH under pipx, uv tool or Debian).
    readme = (project / "templates" / "README.md").read_text(encoding="utf-8")
    shipped = Path(re.findall(r"^ {4}(/\S+)/$", readme, re.MULTILINE)[0])
    assert shipped.is_relative_to(venv) and (shipped / "digest.mjml.j2").is_file(), readme
    checked = _run(digest, "check", cwd=project)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "everything is ready" in checked.stdout

    server = servers()
    with (project / "digest.yaml").open("a", encoding="utf-8") as config:
        config.write(
            f'recipients: ["reader@example.org"]\nsmtp:\n  host: 127.0.0.1\n'
            f"  port: {server.port}\n  security: none\n  retries: 0\n"
        )
    tried = _run(digest, "send", "--test", "me@example.net", cwd=project)
    assert tried.returncode == 0, tried.stdout + tried.stderr
    assert server.handler.wait_for(1)
    assert server.handler.received[0].rcpt_tos == ["me@example.net"]
    assert server.handler.received[0].message["Subject"].startswith("[test] My Newsletter #1")
    assert not (project / "outbox").exists()

    built = _run(digest, "build", cwd=project)
    assert built.returncode == 0, built.stdout + built.stderr
    assert (project / "outbox" / "issue-0001" / "issue-0001.eml").is_file()
    assert server.handler.wait_for(2)
    assert server.handler.received[1].rcpt_tos == ["reader@example.org"]


@pytest.fixture
def preview_process(venv: Path, tmp_path: Path) -> Iterator[str]:
    """`digest preview` of a new project, run from the installed package; its URL."""
    assert _run(venv / "bin" / "digest", "init", "p", cwd=tmp_path).returncode == 0
    process = subprocess.Popen(
        [str(venv / "bin" / "digest"), "preview", "--port", "0", "--no-open"],
        cwd=tmp_path / "p",
        env=_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert match, line
        yield match.group(0)
    finally:
        process.terminate()
        process.wait(timeout=20)


@SLOW
def test_the_installed_preview_serves_its_page_and_scripts(preview_process: str) -> None:
    deadline = time.monotonic() + 20
    for path in ("", "static/preview.js", "static/preview.css", "api/next"):
        while True:
            try:
                with urllib.request.urlopen(preview_process + path, timeout=20) as response:
                    assert response.status == 200
                    assert response.read()
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)


def _make_plan(target: str, tmp_path: Path) -> str:
    """The commands `make TARGET` would run in a fresh clone (make -n: nothing is run)."""
    clone = tmp_path / target
    clone.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, clone / name)
    (clone / "src").mkdir()
    planned = _run("make", "-n", target, cwd=clone)
    assert planned.returncode == 0, planned.stderr
    return planned.stdout


def test_make_run_installs_only_what_running_needs_and_the_others_add_their_tools(
    tmp_path: Path,
) -> None:
    run = _make_plan("run", tmp_path)
    installs = [
        line for line in run.splitlines() if "pip install" in line and "--upgrade" not in line
    ]
    assert installs == [".venv/bin/pip install --quiet -e ."]
    assert run.rstrip().endswith(".venv/bin/digest build")
    for target, extras in (("test", ("test", "docs")), ("docs", ("docs",)), ("lint", ("lint",))):
        plan = _make_plan(target, tmp_path)
        for extra in extras:  # the suite builds the docs too, so `make test` adds their tools
            assert f"pip install --quiet -e '.[{extra}]'" in plan, (target, extra)
        assert "'.[dev]'" not in plan


DEPLOY = ROOT / "deploy"
GUIDE = ROOT / "docs" / "deploy.md"
INSTALLED = "/opt/newsletter-digest/bin/digest"


def _guide_blocks(kind: str) -> list[str]:
    """The code blocks of docs/deploy.md in the language ``kind`` (sh, yaml)."""
    return re.findall(rf"```{kind}\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)


def _unit_command(name: str, key: str, venv: Path, project: Path) -> str:
    """A systemd unit's command line as systemd runs it, with this machine's paths."""
    unit = (DEPLOY / "systemd" / name).read_text(encoding="utf-8")
    (line,) = [entry for entry in unit.splitlines() if entry.startswith(f"{key}=")]
    command = line.split("=", 1)[1].replace("%%", "%")
    return command.replace(INSTALLED, str(venv / "bin" / "digest")).replace(
        "/srv/newsletter", str(project)
    )


@SLOW
def test_every_digest_command_in_the_deploy_guide_is_one_the_installed_package_has(
    venv: Path, tmp_path: Path
) -> None:
    commands = {
        " ".join(word for word in line.split()[1:3] if not word.startswith(("-", "/")))
        for block in _guide_blocks("sh")
        for line in block.replace("\\\n", " ").splitlines()
        if line.startswith("digest ")
    }
    assert {"check", "status", "state restore", "send"} <= commands, commands
    for command in commands:
        shown = _run(venv / "bin" / "digest", *command.split(), "--help", cwd=tmp_path)
        assert shown.returncode == 0, (command, shown.stderr)


@SLOW
def test_the_deploy_guide_walked_with_the_installed_package(
    venv: Path, tmp_path: Path, servers: Callable[..., Server]
) -> None:
    """docs/deploy.md as far as a machine without systemd goes: init the project, its
    settings from the guide, check, a test send, the first issue, `digest serve` as its unit
    runs it taking one-click unsubscribes while the backup unit backs the state up, status,
    and a restore of that backup."""
    digest = venv / "bin" / "digest"
    srv = tmp_path / "srv" / "newsletter"
    srv.mkdir(parents=True)
    assert _run(digest, "init", srv, cwd=tmp_path).returncode == 0
    smtp = servers()
    settings = yaml.safe_load((srv / "digest.yaml").read_text(encoding="utf-8"))
    (guide_settings,) = _guide_blocks("yaml")
    settings |= yaml.safe_load(guide_settings)
    settings["smtp"] = {"host": "127.0.0.1", "port": smtp.port, "security": "none"}
    settings["recipients"] = [f"reader{n}@example.org" for n in range(30)]
    (srv / "digest.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    env = {**_env(), "DIGEST_CONFIG": str(srv / "digest.yaml")}

    def digest_(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(digest), *map(str, args)], cwd=srv, env=env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip

    checked = digest_("check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "30 active readers" in checked.stdout or "recipients: 30" in checked.stdout
    assert digest_("send", "--test", "you@example.org").returncode == 0
    built = digest_("build")
    assert built.returncode == 0, built.stdout + built.stderr
    assert smtp.handler.wait_for(31)
    links = [
        re.search(
            r"<(https://news\.example\.org/unsubscribe/[^>]+)>", r.message["List-Unsubscribe"]
        )
        for r in smtp.handler.received[1:]
    ]
    paths = [link.group(1).removeprefix("https://news.example.org") for link in links if link]
    assert len(paths) == 30

    port = str(free_port())
    serve = _unit_command("digest-serve.service", "ExecStart", venv, srv).replace("8080", port)
    server = subprocess.Popen(serve.split(), cwd=srv, env=env, stderr=subprocess.DEVNULL)
    try:
        wait_until_serving(int(port), timeout=30)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            codes: list[int] = []

            def unsubscribe_all() -> None:
                for path in paths:
                    codes.append(
                        client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code
                    )

            posting = threading.Thread(target=unsubscribe_all)
            posting.start()
            for key in ("ExecStartPre", "ExecStart"):  # the backup unit, while POSTs land
                command = _unit_command("digest-backup.service", key, venv, srv)
                done = subprocess.run(command, shell=True, cwd=srv, env=env, timeout=120)
                assert done.returncode == 0
            posting.join(120)
        assert codes == [200] * 30
    finally:
        server.terminate()
        server.wait(20)
    (backup,) = (srv / "backups").glob("state-*.db")
    status = digest_("status")
    assert status.returncode == 0 and "30 unsubscribed" in status.stdout, status.stdout
    restored = digest_("state", "restore", "--force", backup)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    after = digest_("status")
    assert after.returncode == 0 and "last issue: #1 " in after.stdout, after.stdout


@SLOW
def test_the_deploy_guide_upgrade_replaces_a_release_of_the_same_version(
    venv: Path, wheel: Path, tmp_path: Path
) -> None:
    """The guide's pip commands under Upgrades, run against an install whose files are not
    the wheel's (an older build of the same version number): afterwards they are."""
    upgrades = GUIDE.read_text(encoding="utf-8").split("### Upgrades", 1)[1]
    (block,) = re.findall(r"```sh\n(.*?)```", upgrades, re.S)[:1]
    commands = [line for line in block.splitlines() if "/bin/pip install" in line]
    assert commands, block
    (shipped,) = (venv / "lib").glob("python3*/site-packages/newsletter_digest/templates")
    (shipped / "digest.mjml.j2").write_text("{# the older build #}", encoding="utf-8")
    for command in commands:
        words = command.removeprefix("sudo ").split("#", 1)[0].split()
        words = [str(venv / "bin" / "pip") if w.endswith("/bin/pip") else w for w in words]
        words = [str(wheel) if w.endswith(".whl") else w for w in words]
        done = _run(*words, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert (shipped / "digest.mjml.j2").read_bytes() == zipfile.ZipFile(wheel).read(
        "newsletter_digest/templates/digest.mjml.j2"
    )
