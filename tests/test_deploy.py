"""deploy/: the systemd units verify, Caddy and nginx accept their configs, and a one-click
unsubscribe sent through nginx (TLS) reaches a running `digest serve` and is recorded.

The tools are Debian's (systemd, caddy, nginx), installed by `make test`.
"""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from click.testing import Result

from newsletter_digest.config.loading import load_config
from newsletter_digest.readers import book
from newsletter_digest.readers.tokens import Tokens, server_key
from newsletter_digest.state.store import open_state
from serve_helpers import start_serve, wait_until_serving
from smtp_helpers import free_port

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNITS = (
    "digest-serve.service",
    "digest-run.service",
    "digest-run.timer",
    "digest-backup.service",
    "digest-backup.timer",
)
INSTALLED_DIGEST = "/opt/newsletter-digest/bin/digest"


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        pytest.fail(f"{name} is missing: 'make test' installs it (Debian's package)")
    return path


def _digest_executable() -> str:
    """The `digest` script beside this Python (the venv's), standing in for /opt/…/digest."""
    path = Path(sys.executable).parent / "digest"
    assert path.exists(), f"no digest script beside {sys.executable}"
    return str(path)


def test_the_systemd_units_verify(tmp_path: Path) -> None:
    for name in UNITS:
        text = (DEPLOY / "systemd" / name).read_text()
        (tmp_path / name).write_text(text.replace(INSTALLED_DIGEST, _digest_executable()))
    done = subprocess.run(
        [_tool("systemd-analyze"), "verify", *(str(tmp_path / n) for n in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # verify exits 0 on unknown keys but names them: any output at all is a finding.
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), (
        done.stdout + done.stderr
    )


@pytest.mark.parametrize(
    "name", ["digest-serve.service", "digest-run.service", "digest-backup.service"]
)
def test_the_services_run_as_their_own_user_and_are_hardened(name: str) -> None:
    settings = dict(
        line.split("=", 1)
        for line in (DEPLOY / "systemd" / name).read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert settings["User"] == "digest" and settings["WorkingDirectory"] == "/srv/newsletter"
    assert settings["NoNewPrivileges"] == "yes" and settings["ProtectSystem"] == "strict"
    assert settings["PrivateTmp"] == "yes" and settings["ReadWritePaths"] == "/srv/newsletter"
    assert settings["UMask"] == "0077"  # state, outbox and secret readable by digest alone
    assert INSTALLED_DIGEST in settings["ExecStart"]


def _as_here(command: str, project: Path) -> str:
    """A unit's command line as systemd runs it, with this machine's paths."""
    command = command.replace("%%", "%").replace(INSTALLED_DIGEST, _digest_executable())
    return command.replace("/srv/newsletter", str(project))


def test_the_backup_unit_keeps_dated_backups_and_the_newest_thirty(
    project: Path, digest: Callable[..., Result]
) -> None:
    assert digest("build").exit_code == 0
    unit = (DEPLOY / "systemd" / "digest-backup.service").read_text().splitlines()
    commands = {key: value for key, value in (line.split("=", 1) for line in unit if "=" in line)}
    env = {**os.environ, "DIGEST_CONFIG": str(project / "digest.yaml")}
    backups = project / "backups"
    for name in ("ExecStartPre", "ExecStart"):
        argv = _as_here(commands[name], project)
        subprocess.run(argv, shell=True, check=True, env=env, cwd=project, timeout=60)
    [made] = backups.glob("state-*.db")
    assert re.fullmatch(r"state-\d{8}T\d{6}Z\.db", made.name)
    for n in range(40):
        (backups / f"state-20200101T0000{n:02d}Z.db").write_text("old")
        os.utime(backups / f"state-20200101T0000{n:02d}Z.db", (1_000_000 + n, 1_000_000 + n))
    subprocess.run(
        _as_here(commands["ExecStartPost"], project), shell=True, check=True, cwd=project
    )
    kept = sorted(backups.glob("state-*.db"))
    assert len(kept) == 30 and made in kept


def test_the_caddyfile_validates(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}
    done = subprocess.run(
        [
            _tool("caddy"),
            "validate",
            "--adapter",
            "caddyfile",
            "--config",
            str(DEPLOY / "Caddyfile"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0 and "Valid configuration" in done.stdout + done.stderr, (
        done.stdout + done.stderr
    )


def _nginx_config(
    tmp_path: Path, certs: tuple[Path, Path], https: int, http: int, upstream: int
) -> Path:
    """deploy/nginx.conf as a user adapts it (their certificate, this machine's ports),
    inside a minimal nginx.conf that keeps every file in tmp_path."""
    block = (DEPLOY / "nginx.conf").read_text()
    block = block.replace("/etc/letsencrypt/live/news.example.org/fullchain.pem", str(certs[0]))
    block = block.replace("/etc/letsencrypt/live/news.example.org/privkey.pem", str(certs[1]))
    block = block.replace("listen 443 ssl", f"listen 127.0.0.1:{https} ssl")
    block = block.replace("listen 80;", f"listen 127.0.0.1:{http};")
    block = "\n".join(line for line in block.splitlines() if "[::]" not in line)
    block = block.replace("127.0.0.1:8080", f"127.0.0.1:{upstream}")
    temp = tmp_path / "nginx-temp"
    temp.mkdir()
    config = tmp_path / "nginx-main.conf"
    config.write_text(
        f"daemon off;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "events {}\nhttp {\n"
        f"  access_log {tmp_path}/access.log;\n"
        + "".join(
            f"  {kind}_temp_path {temp}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + block
        + "\n}\n"
    )
    return config


@pytest.fixture
def served_project(project: Path) -> Iterator[tuple[Path, int]]:
    """`digest serve` as the unit runs it: its own process, on 127.0.0.1."""
    config = project / "digest.yaml"
    text = config.read_text().replace('unsubscribe: "https://example.org/unsubscribe"\n', "")
    config.write_text(text + "base_url: https://news.example.org\n")
    port = free_port()
    server = start_serve(config, port, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(port, server)
        yield project, port
    finally:
        server.terminate()
        server.wait(10)


def test_a_one_click_unsubscribe_through_nginx_is_recorded(
    served_project: tuple[Path, int], tmp_path: Path
) -> None:
    project, upstream = served_project
    nginx = _tool("nginx")
    ca = trustme.CA()
    cert = ca.issue_cert("news.example.org", "127.0.0.1")
    chain, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    cert.cert_chain_pems[0].write_to_path(str(chain))
    cert.private_key_pem.write_to_path(str(key))
    https, http = free_port(), free_port()
    config = _nginx_config(tmp_path, (chain, key), https, http, upstream)
    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(config)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr

    settings = load_config(project / "digest.yaml").settings
    with open_state(settings.state) as state:
        reader, _ = book.add(
            state, "reader@example.org", source="import", now="2026-12-01T09:00:00+00:00"
        )
        token = Tokens(server_key(settings.state)).make(reader, "unsubscribe")

    proxy = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(config)])
    try:
        trust = ssl.create_default_context()
        ca.configure_trust(trust)
        with httpx.Client(verify=trust, timeout=10) as client:
            deadline = time.monotonic() + 20
            while True:
                try:
                    plain = client.get(
                        f"http://127.0.0.1:{http}/", headers={"Host": "news.example.org"}
                    )
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "nginx did not start"
                    time.sleep(0.1)
            assert plain.status_code == 301
            assert plain.headers["location"].startswith("https://news.example.org/")
            answer = client.post(
                f"https://127.0.0.1:{https}/unsubscribe/{token}",
                headers={"Host": "news.example.org"},
                data={"List-Unsubscribe": "One-Click"},
            )
        assert answer.status_code == 200, answer.text
    finally:
        proxy.terminate()
        proxy.wait(10)
    with open_state(settings.state) as state:
        found = book.find(state, "reader@example.org")
        assert found is not None and found.status == "unsubscribed"
