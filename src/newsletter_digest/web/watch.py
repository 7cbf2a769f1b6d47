"""Watch what an issue is made from (config, content/, templates/, the record of past issues).

Two watchfiles threads: one recursive over the content and template folders, one over the
config's own folder, not recursive (it may hold a .venv or a big outbox) for the config and
recipients files and for a content or template folder appearing. A third thread polls the
state database's size and time and the outbox's issue folders, so a ``digest build`` run
meanwhile moves the preview on to the new next issue. All three stop on :meth:`stop`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import watchfiles

from newsletter_digest.config.loading import Config, load_config
from newsletter_digest.delivery import outbox as deliver
from newsletter_digest.errors import DigestError

DEBOUNCE_MS = 300
STEP_MS = 50
TICK_MS = 100
"""How often a watcher thread wakes without changes, to notice stop() or a rewatch."""
POLL_S = 0.5
"""How often the state database and the outbox are looked at."""


def _real(path: Path | str) -> Path:
    return Path(path).resolve()


class Watcher:
    """Calls ``on_change`` after each batch of changes to the files an issue is made from."""

    def __init__(
        self,
        config: Config,
        on_change: Callable[[], None],
        warn: Callable[[str], None] = lambda message: None,
    ) -> None:
        """Set up; nothing is watched until :meth:`start`."""
        self._config = config
        self._on_change = on_change
        self._warn = warn
        self._stop = threading.Event()
        self._rewatch = threading.Event()
        self._ready = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []

    def folders(self) -> list[Path]:
        """The folders watched recursively (those of the current config that exist)."""
        s = self._config.settings
        return [folder for folder in dict.fromkeys((s.content, s.templates)) if folder.is_dir()]

    def start(self, timeout: float = 10.0) -> None:
        """Start both threads and wait until they watch, so no change is missed after this."""
        targets = (
            ("config", self._watch_config),
            ("folders", self._watch_folders),
            ("records", self._poll_records),
        )
        for name, target in targets:
            thread = threading.Thread(target=target, name=f"digest-watch-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        for _ in self._threads:
            if not self._ready.acquire(timeout=timeout):
                self._warn("the file watcher is slow to start; changes may show late")
                break

    def stop(self) -> None:
        """Stop watching and wait for both threads to end."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def _arrived(self) -> None:
        """Tell :meth:`start` that one thread is watching (once per thread)."""
        self._ready.release()

    def _watch(self, paths: Iterable[Path], *, recursive: bool) -> Iterable[set[str]]:
        """Changed paths in batches; an empty batch every tick, so the loop can look up."""
        for changes in watchfiles.watch(
            *paths,
            recursive=recursive,
            stop_event=self._stop,
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            rust_timeout=TICK_MS,
            yield_on_timeout=True,
            raise_interrupt=False,
        ):
            yield {path for _, path in changes}

    def _targets(self) -> set[Path]:
        """The paths in the config's folder that matter: config, recipients, the folders."""
        s = self._config.settings
        paths = [self._config.path, s.content, s.templates, s.recipients_file]
        return {_real(path) for path in paths if path is not None}

    def _watch_config(self) -> None:
        folder = self._config.path.parent
        first = True
        try:
            for changed in self._watch([folder], recursive=False):
                if first:
                    first = False
                    self._arrived()
                if changed and {_real(path) for path in changed} & self._targets():
                    self._reload_config()
                    self._rewatch.set()
                    self._on_change()
        except OSError as e:
            self._arrived()
            self._warn(f"cannot watch {folder}: {e}; reload the page after changing the config")

    def _reload_config(self) -> None:
        """Follow the config to new content or template folders; keep the old if it is broken."""
        # A broken config: the page shows the error; keep watching the folders we know.
        with contextlib.suppress(DigestError):
            self._config = load_config(self._config.path)

    def _records(self) -> tuple[object, ...]:
        """What changes when an issue is built: the state file and the outbox's issues.

        Only ``state.db`` itself: its -wal/-shm files come and go with every reader,
        the preview's own read-only ones included.
        """
        s = self._config.settings
        try:
            stat = s.state.stat()
            state: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            state = None
        try:
            issues = tuple(deliver.issue_numbers(s.outbox))
        except OSError:
            issues = ()
        return state, issues

    def _poll_records(self) -> None:
        last = self._records()
        self._arrived()
        while not self._stop.wait(POLL_S):
            current = self._records()
            if current != last:
                last = current
                self._on_change()

    def _watch_folders(self) -> None:
        first = True
        while not self._stop.is_set():
            self._rewatch.clear()
            folders = self.folders()
            if not folders:
                if first:
                    first = False
                    self._arrived()
                self._rewatch.wait(TICK_MS / 1000)
                continue
            try:
                for changed in self._watch(folders, recursive=True):
                    if first:
                        first = False
                        self._arrived()
                    if changed:
                        self._on_change()
                    if self._rewatch.is_set():
                        break
            except OSError as e:
                if first:
                    first = False
                    self._arrived()
                self._warn(f"cannot watch {', '.join(map(str, folders))}: {e}")
                self._stop.wait(1.0)
