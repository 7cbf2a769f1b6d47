"""``digest preview``: the web app in preview mode on uvicorn, with the file watcher.

The app (:mod:`newsletter_digest.web.preview_routes`) shows the next issue exactly as it
will go out; the watcher (:mod:`newsletter_digest.web.watch`) follows every save to the
config, content and templates and every build, and open pages reload over Server-Sent
Events. It listens on 127.0.0.1 unless told otherwise, and answers only to this machine.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
import webbrowser
from collections.abc import Callable
from datetime import datetime

import uvicorn

from newsletter_digest.clock import local_now
from newsletter_digest.config.loading import Config
from newsletter_digest.errors import PreviewError
from newsletter_digest.web.app import is_loopback
from newsletter_digest.web.limits import server_config
from newsletter_digest.web.preview_routes import PreviewSite, create_preview_app
from newsletter_digest.web.watch import Watcher

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
STOP_WAIT = 3  # seconds open responses get to end when the preview stops


def _ignore(message: str) -> None:
    """Default for ``warn``: say nothing."""


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (so a busy port fails before anything runs)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
    except OSError as e:
        sock.close()
        raise PreviewError(
            f"cannot listen on {host}:{port}: {e.strerror or e}",
            "another program uses that port: pass --port with another one "
            "(--port 0 picks a free one)"
            if port
            else "pass --host with an address of this machine",
        ) from e
    return sock


class PreviewServer:
    """The preview's uvicorn server and file watcher; :meth:`start` runs them in threads."""

    def __init__(
        self,
        config: Config,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        watch: bool = True,
        warn: Callable[[str], None] = _ignore,
        clock: Callable[[], datetime] = local_now,
    ) -> None:
        """Bind the socket (so a busy port fails here) without serving yet."""
        self.config = config
        self.host = host
        self.warn = warn
        self.site = PreviewSite(config, clock, warn)
        self._socket = listening_socket(host, port)
        app = create_preview_app(self.site, host)
        settings = server_config(
            app,
            host,
            self.port,
            behind_proxy=False,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=STOP_WAIT,
        )
        self._server = uvicorn.Server(settings)
        self._watcher = Watcher(config, self.changed, warn) if watch else None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port listened on (the real one when 0 was asked for)."""
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """Where to point a browser."""
        host = self.host
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        elif ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    @property
    def version(self) -> str:
        """Changes with every change to the sources, and with every server start."""
        return self.site.changes.version

    def start(self, timeout: float = 20.0) -> None:
        """Start watching and serving, each in a thread; returns once the server answers."""
        if self._watcher is not None:
            self._watcher.start()
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="digest-preview",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise PreviewError("the preview server did not start", "see the messages above")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop serving (open event streams end first) and watching; close the socket."""
        self.site.changes.close()
        if self._watcher is not None:
            self._watcher.stop()
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=STOP_WAIT + 10)
            self._thread = None
        self._socket.close()

    def __enter__(self) -> PreviewServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def changed(self) -> None:
        """Forget every snapshot and tell open pages to fetch the issue again."""
        self.site.changed()

    def now(self) -> datetime:
        """The preview's clock (a test send is dated by it, as the issue on screen is)."""
        return self.site.clock()


def _wait_for_stop() -> None:
    """Block until Ctrl-C, or SIGTERM when running in the main thread."""
    stop = threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if in_main else None
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def serve(
    config: Config,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    open_browser: bool = True,
    echo: Callable[[str], None] = print,
    warn: Callable[[str], None] = _ignore,
) -> None:
    """Run the preview until Ctrl-C: print where it is, open a browser, follow every save."""
    server = PreviewServer(config, host, port, warn=warn)
    server.start()
    try:
        s = config.settings
        echo(f"Previewing {s.title} at {server.url}  (Ctrl-C to stop)")
        echo(
            f"  following {config.path}, {s.content}/ and {s.templates}/: the page updates on save"
        )
        if not is_loopback(host):
            warn(f"listening on {host}: other machines on your network can open the preview")
        if open_browser and not webbrowser.open(server.url):
            echo(f"  open {server.url} in a browser")
        _wait_for_stop()
    finally:
        server.stop()
        echo("preview stopped")
        sys.stdout.flush()
