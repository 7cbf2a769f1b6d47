"""What bench/compare.py reads from each benchmark script: its headline figures (a regex
over its printed output and which way is better) and its arguments in each mode."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

NUMBER = r"([\d,]+(?:\.\d+)?)"


@dataclass(frozen=True)
class Figure:
    """One headline figure of a script: a regex over its output and which way is better."""

    name: str
    unit: str
    pattern: str
    higher_is_better: bool
    group: int = 1
    optional: bool = False  # printed only in some modes (e.g. with valgrind installed)

    def read(self, output: str) -> float | None:
        match = re.search(self.pattern, output, re.MULTILINE)
        return None if match is None else float(match.group(self.group).replace(",", ""))


@dataclass(frozen=True)
class Bench:
    """One script of bench/, its figures, and its arguments: in quick mode, when counted
    under valgrind (smaller still: valgrind runs code some 20 to 50 times slower), and in
    full mode (none: the script's defaults)."""

    name: str
    script: str
    figures: Callable[[bool], list[Figure]]
    quick: tuple[str, ...]
    counted: tuple[str, ...]
    full: tuple[str, ...] = ()
    available: Callable[[], bool] = lambda: True


def _build_figures(quick: bool) -> list[Figure]:
    """bench_build prints one row per size: first build, issues/s, ms/issue, peak RSS."""
    figures = []
    for size in (8, 500) if quick else (8, 1000, 10000):
        row = rf"^\s*{size}\s+\d+\s+{NUMBER}ms\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}MB"
        figures += [
            Figure(f"{size} excerpts: first build", "ms", row, False, 1),
            Figure(f"{size} excerpts: each next build", "ms", row, False, 3),
            Figure(f"{size} excerpts: peak RSS", "MB", row, False, 4),
        ]
    return figures


def _messages_figures(quick: bool) -> list[Figure]:
    return [
        Figure("naive EmailMessage (CPU)", "msg/s", rf"^naive EmailMessage:\s+{NUMBER}", True),
        Figure("MessageFactory (CPU)", "msg/s", rf"^MessageFactory:\s+{NUMBER}", True),
        Figure("message size", "bytes", rf"^message size:\s+{NUMBER}", False),
    ]


def _personal_figures(quick: bool) -> list[Figure]:
    return [
        Figure("naive, one core (CPU)", "msg/s", rf"^naive .*?:\s+{NUMBER} messages", True),
        Figure("fast, one core (CPU)", "msg/s", rf"^fast \(.*?:\s+{NUMBER} messages", True),
        Figure("fast, process pool (wall)", "msg/s", rf"^fast on a pool.*?{NUMBER} messages", True),
    ]


def _smtp_figures(quick: bool) -> list[Figure]:
    return [
        Figure("messages per second (wall)", "msg/s", rf"^messages per second:\s+{NUMBER}", True),
        Figure("client CPU per message", "ms", rf"^client CPU/message:\s+{NUMBER}", False),
    ]


def _startup_figures(quick: bool) -> list[Figure]:
    """CPU time (best of the runs) of each command, the per-round ratio, the instructions."""
    cpu = r"^CPU time, best of \d+:\n(?:.*\n)*?"
    counted = r"^instructions executed.*\n(?:.*\n)*?"
    figures = [
        Figure("bare import jinja2, mjml (CPU)", "ms", rf"{cpu}\s+bare.*?{NUMBER} ms", False)
    ]
    for label in ("first", "second", "next"):
        line = rf"\s+digest build, {label} .*?{NUMBER} ms"
        figures.append(Figure(f"digest build, {label} (CPU)", "ms", cpu + line, False))
    figures.append(
        Figure(
            "digest build, next / bare (CPU, per round)",
            "x",
            rf"median of \d+: next {NUMBER}x",
            False,
        )
    )
    for label in ("bare", "digest build, first", "digest build, next"):
        line = rf"\s+{label}.*?:\s+{NUMBER} M"
        name = f"{label} (instructions)".replace("bare", "bare import")
        figures.append(Figure(name, "M", counted + line, False, optional=True))
    return figures


def _import_figures(quick: bool) -> list[Figure]:
    feed = r"^feed of [\d,]+ entries from a file: "
    return [
        Figure("feed import, median (wall)", "s", rf"{feed}.*median {NUMBER} s", False),
        Figure("feed import, user CPU", "s", rf"{feed}.*CPU: user {NUMBER} s", False),
        Figure("feed import, system CPU", "s", rf"{feed}.*system {NUMBER} s", False),
        Figure(
            "feed import minus the disk (wall)", "s", rf"import minus disk, median {NUMBER}", False
        ),
        Figure(
            "refresh answered 304 (wall)", "ms", rf"^refresh that finds .*?: {NUMBER} ms", False
        ),
    ]


def _readers_figures(quick: bool) -> list[Figure]:
    row = rf"\s+{NUMBER}\s+{NUMBER}\s+{NUMBER} MB"
    new, again = r"^digest readers import \(new book\)", r"^digest readers import \(again.*?\)"
    return [
        Figure("new book (wall)", "rows/s", new + row, True, 2),
        Figure("new book: peak RSS", "MB", new + row, False, 3),
        Figure("again, all known (wall)", "rows/s", again + row, True, 2),
        Figure("again: peak RSS", "MB", again + row, False, 3),
        Figure("new book / baseline rate", "x", rf"^import / baseline rate: {NUMBER}", True),
    ]


def _memory_figures(quick: bool) -> list[Figure]:
    figures = []
    for mode in ("smtp", "pickup"):
        line = rf"^\s*{mode}: [\d,]+ recipients in [\d.]+ s \({NUMBER}/s\), .*? {NUMBER} MB"
        figures += [
            Figure(f"{mode}: digest send (wall)", "msg/s", line, True, 1),
            Figure(f"{mode}: peak RSS of digest send", "MB", line, False, 2),
        ]
    return figures


def _postfix_figures(quick: bool) -> list[Figure]:
    names = ["smtp-source, plain", "digest send, plain, 1 connection"]
    names += [f"digest send, STARTTLS, {n}" for n in ("1 connection", "4 connections")]
    return [
        Figure(name, "msg/s", rf"^\s+{re.escape(name)}\s+{NUMBER} messages/s", True)
        for name in names
    ]


def _postfix_ready() -> bool:
    """bench_postfix needs a Postfix set up by its --setup (root, rewrites /etc/postfix)."""
    return shutil.which("smtp-source") is not None and Path("/etc/postfix/bench-tls").is_dir()


BENCHES = [
    Bench(
        "build",
        "bench_build.py",
        _build_figures,
        ("--sizes", "8,500", "--issues", "10"),
        ("--sizes", "8,100", "--issues", "3"),
    ),
    Bench(
        "messages",
        "bench_messages.py",
        _messages_figures,
        ("--recipients", "3000"),
        ("--recipients", "500"),
    ),
    Bench(
        "personal",
        "bench_personal.py",
        _personal_figures,
        ("--recipients", "200"),
        ("--recipients", "50"),
    ),
    Bench("smtp", "bench_smtp.py", _smtp_figures, ("--recipients", "200"), ("--recipients", "50")),
    Bench(
        "startup",
        "bench_startup.py",
        _startup_figures,
        ("--runs", "3", "--no-instructions"),
        ("--runs", "2", "--no-instructions"),  # its quartiles need two
    ),
    Bench(
        "import",
        "bench_import.py",
        _import_figures,
        ("--entries", "500"),
        ("--entries", "100", "--runs", "1"),
    ),
    Bench(
        "readers",
        "bench_readers_import.py",
        _readers_figures,
        ("--rows", "20000"),
        ("--rows", "2000"),
    ),
    Bench(
        "memory",
        "bench_memory.py",
        _memory_figures,
        ("--recipients", "500"),
        ("--recipients", "100"),
    ),
    Bench(
        "postfix",
        "bench_postfix.py",
        _postfix_figures,
        ("--recipients", "200", "--rounds", "1"),
        ("--recipients", "50", "--rounds", "1"),
        available=_postfix_ready,
    ),
]
