"""`digest send` against a real Postfix on this machine, side by side with Postfix's own
load client `smtp-source` sending the same .eml on one session (the wire limit to approach).

Postfix listens on 127.0.0.1:2525 only and hands the test domain `bench.test` to its
`discard:` transport, so its own delivery does not dominate. `--setup` installs and
configures it (Debian's postfix package; root; it rewrites /etc/postfix/main.cf, so use a
throwaway machine). Runs alternate with the baseline in one sitting; each figure is the
median of --rounds.

Usage: python bench/bench_postfix.py [--setup] [--recipients 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIGEST = Path(sys.executable).with_name("digest")
PORT = 2525
CERTS = Path("/etc/postfix/bench-tls")
MAIN_CF = f"""\
# Written by newsletter-digest's bench/bench_postfix.py: a loopback-only relay for benchmarks.
compatibility_level = 3.6
myhostname = bench.localdomain
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
relay_domains = bench.test
transport_maps = inline:{{ bench.test=discard: }}
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_tls_cert_file = {CERTS}/cert.pem
smtpd_tls_key_file = {CERTS}/key.pem
smtpd_tls_security_level = may
maillog_file = /var/log/postfix-bench.log
"""


def setup() -> None:
    """Install Postfix, write the bench config and a self-signed certificate, (re)start."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not shutil.which("smtp-source"):
        subprocess.run(
            ["debconf-set-selections"],
            input=b"postfix postfix/main_mailer_type select No configuration\n",
            check=True,
        )
        subprocess.run(["apt-get", "install", "-y", "-qq", "postfix"], check=True, env=env)
    CERTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30"),
            *("-keyout", str(CERTS / "key.pem"), "-out", str(CERTS / "cert.pem")),
            *("-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    Path("/etc/postfix/main.cf").write_text(MAIN_CF)
    master = Path("/etc/postfix/master.cf")
    master.write_text(
        re.sub(r"(?m)^smtp\s+inet\s.*$", f"{PORT} inet n - n - - smtpd", master.read_text())
    )
    subprocess.run(["postfix", "stop"], capture_output=True)
    subprocess.run(["postfix", "start"], check=True)
    time.sleep(1)


def project(folder: Path, recipients: int, smtp: str, dkim: bool = False) -> None:
    """The bundled example's excerpts, one issue built, ``recipients`` at bench.test."""
    if not (folder / "content").exists():
        shutil.copytree(ROOT / "content", folder / "content")
    if dkim and not (folder / "dkim.pem").exists():
        subprocess.run(
            ["openssl", "genrsa", "-out", str(folder / "dkim.pem"), "2048"],
            check=True,
            capture_output=True,
        )
    (folder / "readers.txt").write_text("".join(f"r{n}@bench.test\n" for n in range(recipients)))
    (folder / "digest.yaml").write_text(
        'title: "Bench Weekly"\nsender: "Bench Weekly <news@example.org>"\n'
        'recipients_file: readers.txt\nunsubscribe: "https://example.org/unsubscribe"\n'
        + (
            "dkim:\n  domain: example.org\n  selector: bench\n  key_file: dkim.pem\n"
            if dkim
            else ""
        )
        + f"smtp:\n  host: localhost\n  port: {PORT}\n"
        + "".join(f"  {line}\n" for line in smtp.splitlines())
    )


def digest_send(folder: Path, recipients: int, smtp: str) -> tuple[float, float]:
    """Messages per second of one `digest send` of a freshly built issue: as the send loop
    reports it (from the first connection to the last reply), and for the whole process
    (start-up included, which bench_startup.py measures on its own)."""
    project(folder, recipients, smtp, dkim="DKIM" in str(folder.name))
    subprocess.run([DIGEST, "build", "--no-send"], cwd=folder, check=True, capture_output=True)
    started = time.perf_counter()
    done = subprocess.run([DIGEST, "send"], cwd=folder, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"digest send failed:\n{done.stdout}{done.stderr}")
    loop = re.search(r" in ([0-9.]+) s", done.stdout)
    assert loop is not None, done.stdout
    return recipients / float(loop.group(1)), recipients / seconds


def smtp_source(eml: Path, count: int) -> float:
    """Messages per second of smtp-source: one session, the same message, no TLS."""
    started = time.perf_counter()
    subprocess.run(
        [
            *("smtp-source", "-d", "-s", "1", "-m", str(count), "-f", "news@example.org"),
            *("-t", "r@bench.test", "-F", str(eml), f"127.0.0.1:{PORT}"),
        ],
        check=True,
    )
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", action="store_true", help="install and configure Postfix")
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.setup:
        setup()
    if not shutil.which("smtp-source"):
        raise SystemExit("Postfix is not installed: run with --setup (as root)")
    ca = f"ca_file: {CERTS}/cert.pem"
    modes = {
        "digest send, STARTTLS, 1 connection": f"security: starttls\n{ca}",
        "digest send, plain, 1 connection": "security: none",
        "digest send, STARTTLS, 4 connections": f"security: starttls\n{ca}\nconnections: 4",
        "digest send, STARTTLS, 1 connection, DKIM": f"security: starttls\n{ca}\n",
        "digest send, STARTTLS, 4 connections, DKIM": f"security: starttls\n{ca}\nconnections: 4",
    }
    figures: dict[str, list[float]] = {name: [] for name in ["smtp-source, plain", *modes]}
    whole: dict[str, list[float]] = {name: [] for name in modes}
    with tempfile.TemporaryDirectory() as tmp:
        folders = {
            name: Path(tmp) / f"{n}{'-DKIM' if 'DKIM' in name else ''}"
            for n, name in enumerate(modes)
        }
        for folder in folders.values():
            folder.mkdir()
        for _ in range(args.rounds):
            for name, smtp in modes.items():
                loop_rate, process_rate = digest_send(folders[name], args.recipients, smtp)
                figures[name].append(loop_rate)
                whole[name].append(process_rate)
                eml = next((folders[name] / "outbox").glob("issue-*/*.eml"))
                figures["smtp-source, plain"].append(smtp_source(eml, args.recipients))
        size = eml.stat().st_size
    baseline = statistics.median(figures["smtp-source, plain"])
    print(f"{args.recipients} messages of {size:,} bytes to Postfix on 127.0.0.1 (discard:),")
    print(f"median of {args.rounds} rounds, alternated with the baseline:")
    print("(digest: the send loop's own rate; in brackets, the whole process with start-up)")
    for name, values in figures.items():
        rate = statistics.median(values)
        line = f"  {name:<38} {rate:5.0f} messages/s  {rate / baseline:.2f}x smtp-source"
        if name in whole:
            process = statistics.median(whole[name])
            line += f"  (whole process {process:.0f}/s, {process / baseline:.2f}x)"
        print(line)


if __name__ == "__main__":
    main()
