"""`digest serve` over HTTP: a real uvicorn on a free port, driven with httpx.

One-click unsubscribe (RFC 8058) works and a GET changes nothing; bad tokens, bodies,
content types and floods get a 4xx and change nothing; only the archive's own files are
served; the subscribe form is double opt-in.
"""

from __future__ import annotations

import contextlib
import email
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from email import policy
from pathlib import Path

import httpx
import pytest
import uvicorn
from click.testing import Result

from conftest import wait_for
from newsletter_digest.config.loading import load_config
from newsletter_digest.readers import book
from newsletter_digest.readers.tokens import Tokens, server_key
from newsletter_digest.state.store import open_state
from newsletter_digest.web.limits import LIMITS, Limits, server_config
from newsletter_digest.web.serve import create_app
from smtp_helpers import READERS, Server, free_port
from smtp_helpers import configure as smtp_configure

Digest = Callable[..., Result]
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


class Running:
    """A uvicorn server in a thread, serving the project's app on 127.0.0.1 with the
    settings and limits `digest serve` runs it with."""

    def __init__(self, project: Path, limits: Limits = LIMITS) -> None:
        config = load_config(project / "digest.yaml")
        self.port = free_port()
        app = create_app(config, limits)
        settings = server_config(app, "127.0.0.1", self.port, limits, log_level="error")
        self.server = uvicorn.Server(settings)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    def stop(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(10)


def configure(project: Path, extra: str = "") -> None:
    config = project / "digest.yaml"
    text = config.read_text().replace('unsubscribe: "https://example.org/unsubscribe"\n', "")
    config.write_text(text + "base_url: https://news.example.org\n" + extra)


@pytest.fixture
def served(project: Path, digest: Digest) -> Iterator[Running]:
    configure(project, "serve:\n  requests_per_minute: 1000\n")
    assert digest("build").exit_code == 0
    running = Running(project)
    yield running
    running.stop()


def reader_and_token(project: Path, address: str = "reader@example.org") -> tuple[int, str]:
    config = load_config(project / "digest.yaml")
    with open_state(config.settings.state) as state:
        book.sync_config(state, config.iter_recipients(), "2026-12-01T09:00:00+00:00")
        reader = book.find(state, address)
        assert reader is not None
        return reader.id, Tokens(server_key(config.settings.state)).make(reader, "unsubscribe")


def status(project: Path, address: str = "reader@example.org") -> str:
    config = load_config(project / "digest.yaml")
    with open_state(config.settings.state) as state:
        reader = book.find(state, address)
        assert reader is not None
        return reader.status


def test_a_get_shows_one_button_and_changes_nothing(served: Running, project: Path) -> None:
    _, token = reader_and_token(project)
    response = served.client.get(f"/unsubscribe/{token}")
    assert response.status_code == 200
    assert "Test Weekly" in response.text and "<button" in response.text
    assert "reader@example.org" not in response.text  # the address was not given: not shown
    assert response.headers["referrer-policy"] == "no-referrer"
    assert status(project) == "active"


@pytest.mark.parametrize("multipart", [False, True])
def test_one_click_post_unsubscribes_at_once_and_again_harmlessly(
    served: Running, project: Path, multipart: bool
) -> None:
    _, token = reader_and_token(project)
    send = (
        {"files": {"List-Unsubscribe": (None, "One-Click")}} if multipart else {"data": ONE_CLICK}
    )
    first = served.client.post(f"/unsubscribe/{token}", **send)  # type: ignore[arg-type]
    assert first.status_code == 200, first.text
    assert "You are unsubscribed" in first.text
    assert status(project) == "unsubscribed"
    again = served.client.post(f"/unsubscribe/{token}", **send)  # type: ignore[arg-type]
    assert again.status_code == 200
    assert status(project) == "unsubscribed"


def test_the_button_unsubscribes(served: Running, project: Path) -> None:
    _, token = reader_and_token(project)
    page = served.client.get(f"/unsubscribe/{token}").text
    action = re.search(r'action="([^"]+)"', page)
    assert action is not None
    response = served.client.post(action.group(1), data={"confirm": "yes"})
    assert response.status_code == 200 and status(project) == "unsubscribed"


def tampered(token: str) -> list[str]:
    middle = len(token) // 2
    flipped = "A" if token[middle] != "A" else "B"
    return [token[:middle] + flipped + token[middle + 1 :], token[:-1], token + "x", "x" * 300]


def test_a_tampered_token_is_400_and_names_nobody(served: Running, project: Path) -> None:
    _, token = reader_and_token(project)
    for bad in tampered(token):
        for method in ("get", "post"):
            response = getattr(served.client, method)(
                f"/unsubscribe/{bad}", **({"data": ONE_CLICK} if method == "post" else {})
            )
            assert response.status_code == 400, bad
            assert "reader@example.org" not in response.text
    assert status(project) == "active"


def test_a_token_for_a_reader_not_in_the_book_is_400(served: Running, project: Path) -> None:
    config = load_config(project / "digest.yaml")
    ghost = book.Reader(999, "ghost@example.org", "", "active", "cli", True, None, "", "", "", "x")
    token = Tokens(server_key(config.settings.state)).make(ghost, "unsubscribe")
    assert served.client.post(f"/unsubscribe/{token}", data=ONE_CLICK).status_code == 400


def test_a_confirm_token_does_not_unsubscribe(served: Running, project: Path) -> None:
    config = load_config(project / "digest.yaml")
    reader_id, _ = reader_and_token(project)
    with open_state(config.settings.state) as state:
        reader = book.get(state, reader_id)
        assert reader is not None
        confirm = Tokens(server_key(config.settings.state)).make(reader, "confirm")
    assert served.client.post(f"/unsubscribe/{confirm}", data=ONE_CLICK).status_code == 400
    assert status(project) == "active"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"data": {"List-Unsubscribe": "One-Click", "pad": "x" * 5000}}, 413),
        (
            {"content": b"List-Unsubscribe=One-Click", "headers": {"content-type": "text/plain"}},
            415,
        ),
        ({"json": {"List-Unsubscribe": "One-Click"}}, 415),
        ({"data": {"something": "else"}}, 400),
    ],
)
def test_bad_bodies_are_4xx_and_change_nothing(
    served: Running, project: Path, kwargs: dict[str, object], code: int
) -> None:
    _, token = reader_and_token(project)
    response = served.client.post(f"/unsubscribe/{token}", **kwargs)  # type: ignore[arg-type]
    assert response.status_code == code
    assert status(project) == "active"


def test_a_chunked_body_over_the_limit_is_refused(served: Running, project: Path) -> None:
    _, token = reader_and_token(project)

    def chunks() -> Iterator[bytes]:
        yield b"List-Unsubscribe=One-Click&pad="
        for _ in range(10):
            yield b"x" * 1000

    response = served.client.post(
        f"/unsubscribe/{token}",
        content=chunks(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert status(project) == "active"


def test_many_requests_from_one_client_are_429(project: Path, digest: Digest) -> None:
    configure(project, "serve:\n  requests_per_minute: 3\n")
    assert digest("build").exit_code == 0
    running = Running(project)
    try:
        codes = [
            running.client.post("/unsubscribe/not-a-token", data=ONE_CLICK).status_code
            for _ in range(5)
        ]
    finally:
        running.stop()
    assert codes == [400, 400, 400, 429, 429]


def test_only_the_archive_is_served(served: Running, project: Path) -> None:
    index = served.client.get("/")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert "max-age" in index.headers["cache-control"]
    feed = served.client.get("/feed.xml")
    assert feed.status_code == 200 and feed.headers["content-type"] == "application/atom+xml"
    issue = served.client.get("/issue-0001/")
    assert issue.status_code == 200 and "Post number" in issue.text
    assert "content-security-policy" in issue.headers
    for path in (
        "/issue-0001/issue-0001.eml",
        "/issue-0001/issue.json",
        "/digest.yaml",
        "/.digest/state.db",
        "/issue-0001/../../digest.yaml",
        "/%2e%2e/digest.yaml",
        "/issue-9999/",
    ):
        assert served.client.get(path).status_code == 404, path


def test_healthz(served: Running) -> None:
    response = served.client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_the_subscribe_form_is_off_by_default(served: Running) -> None:
    assert served.client.get("/subscribe").status_code == 404
    assert served.client.post("/subscribe", data={"email": "x@example.org"}).status_code == 404


def confirmation_link(project: Path, address: str) -> str:
    """The link in the confirmation sent to ``address`` (sent after the response: wait)."""
    deadline = time.monotonic() + 10
    while not any(address in p.name for p in (project / "outbox" / "notices").glob("*.eml")):
        assert time.monotonic() < deadline, f"no confirmation for {address}"
        time.sleep(0.05)
    notices = sorted((project / "outbox" / "notices").glob("*.eml"))
    for path in notices:
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        if message["To"].addresses[0].addr_spec == address:
            body = message.get_body(("plain",))
            assert body is not None
            link = re.search(r"https://news\.example\.org(/confirm/\S+)", body.get_content())
            assert link is not None
            return link.group(1)
    raise AssertionError(f"no confirmation for {address} in {notices}")


def test_double_opt_in_and_old_links_void_after_resubscribing(
    project: Path, digest: Digest
) -> None:
    configure(project, "serve:\n  subscribe: true\n  requests_per_minute: 1000\n")
    assert digest("build").exit_code == 0
    running = Running(project)
    try:
        form = running.client.get("/subscribe")
        assert form.status_code == 200 and 'name="email"' in form.text
        answer = running.client.post("/subscribe", data={"email": "new@example.org"})
        assert answer.status_code == 200 and "Check your inbox" in answer.text
        assert status(project, "new@example.org") == "unconfirmed"
        link = confirmation_link(project, "new@example.org")
        assert running.client.get(link).status_code == 200  # a GET confirms nothing
        assert status(project, "new@example.org") == "unconfirmed"
        assert running.client.post(link, data={"confirm": "yes"}).status_code == 200
        assert status(project, "new@example.org") == "active"
        assert running.client.post(link, data={"confirm": "yes"}).status_code == 400  # used
        # A reader who unsubscribed and subscribes again gets new links; old ones are void.
        _, old = reader_and_token(project)
        assert running.client.post(f"/unsubscribe/{old}", data=ONE_CLICK).status_code == 200
        running.client.post("/subscribe", data={"email": "reader@example.org"})
        relink = confirmation_link(project, "reader@example.org")
        assert running.client.post(relink, data={"confirm": "yes"}).status_code == 200
        assert status(project) == "active"
        assert running.client.post(f"/unsubscribe/{old}", data=ONE_CLICK).status_code == 400
        assert status(project) == "active"
        # The same answer for an address already subscribed, and no second email.
        before = len(list((project / "outbox" / "notices").glob("*.eml")))
        again = running.client.post("/subscribe", data={"email": "new@example.org"})
        assert "Check your inbox" in again.text
        assert len(list((project / "outbox" / "notices").glob("*.eml"))) == before
        assert running.client.post("/subscribe", data={"email": "nope"}).status_code == 400
        # A name with control characters is cleaned; a complained address is never mailed.
        odd = running.client.post("/subscribe", data={"email": "odd@example.org", "name": "A\x01B"})
        assert odd.status_code == 200
        config = load_config(project / "digest.yaml")
        with open_state(config.settings.state) as state:
            odd_reader = book.find(state, "odd@example.org")
            assert odd_reader is not None and odd_reader.name == "A B"
            book.add(
                state, "spam@example.org", source="import", now="2026-12-01", status="complained"
            )
        answer = running.client.post("/subscribe", data={"email": "spam@example.org"})
        assert "Check your inbox" in answer.text  # the same answer...
        time.sleep(0.5)  # ...and no confirmation, now or later
        assert not list((project / "outbox" / "notices").glob("spam@*"))
    finally:
        running.stop()


NOW = "2026-12-01T09:00:00+00:00"


def test_300_one_click_posts_from_one_address_all_succeed(project: Path, digest: Digest) -> None:
    """Gmail, Yahoo and Outlook post from a few shared addresses: a valid one-click
    unsubscribe is never rate limited; invalid links still are (default: 20 a minute)."""
    configure(project)
    assert digest("build").exit_code == 0
    config = load_config(project / "digest.yaml")
    signer = Tokens(server_key(config.settings.state))
    with open_state(config.settings.state) as state:
        readers = [
            book.add(state, f"r{n}@example.org", source="import", now=NOW)[0] for n in range(300)
        ]
    links = [f"/unsubscribe/{signer.make(reader, 'unsubscribe')}" for reader in readers]
    running = Running(project)
    try:
        with ThreadPoolExecutor(30) as pool:
            codes = list(
                pool.map(lambda link: running.client.post(link, data=ONE_CLICK).status_code, links)
            )
        assert codes == [200] * 300
        wait_for(lambda: all(status(project, r.address) == "unsubscribed" for r in readers))
        bad = [running.client.post("/unsubscribe/x", data=ONE_CLICK).status_code for _ in range(25)]
    finally:
        running.stop()
    assert bad == [400] * 20 + [429] * 5


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND")
# A body that would act on any route that took it for a POST.
EVERYTHING = {"List-Unsubscribe": "One-Click", "confirm": "yes", "email": "walk-in@example.org"}


def book_now(project: Path) -> dict[str, str]:
    config = load_config(project / "digest.yaml")
    with open_state(config.settings.state) as state:
        return {reader.address: reader.status for reader in book.readers(state)}


def test_every_method_on_every_route(project: Path, digest: Digest) -> None:
    """GET and HEAD (no body) change nothing; only POST acts, where a route takes a form;
    every other method is 405 and changes nothing."""
    configure(project, "serve:\n  subscribe: true\n  requests_per_minute: 1000\n")
    assert digest("build").exit_code == 0
    _, leave = reader_and_token(project)
    config = load_config(project / "digest.yaml")
    with open_state(config.settings.state) as state:
        new, _ = book.add(state, "new@example.org", source="form", now=NOW, status="unconfirmed")
    join = Tokens(server_key(config.settings.state)).make(new, "confirm")
    get, form = {"GET", "HEAD"}, {"GET", "HEAD", "POST"}
    routes = {
        "/": get,
        "/feed.xml": get,
        "/issue-0001/": get,
        "/issue-0001/index.html": get,
        "/issue-9999/": get,
        "/healthz": get,
        f"/unsubscribe/{leave}": form,
        f"/confirm/{join}": form,
        "/subscribe": form,
    }
    before = book_now(project)
    running = Running(project)
    try:
        for path, allowed in routes.items():
            shown = running.client.get(path)
            for method in METHODS:
                if method == "POST" and method in allowed:
                    continue  # the one that acts: below
                response = running.client.request(method, path, data=EVERYTHING)
                if method == "HEAD":
                    assert (response.status_code, response.content) == (shown.status_code, b"")
                elif method not in allowed:
                    assert response.status_code == 405, (method, path)
                assert book_now(project) == before, (method, path)
        for path in (f"/unsubscribe/{leave}", f"/confirm/{join}", "/subscribe"):
            assert running.client.post(path, data=EVERYTHING).status_code == 200
    finally:
        running.stop()
    assert book_now(project) == {
        "reader@example.org": "unsubscribed",
        "new@example.org": "active",
        "walk-in@example.org": "unconfirmed",
    }


def hold_write_lock(project: Path) -> sqlite3.Connection:
    """Another process's write transaction, as `digest build` holds for the whole build."""
    holder = sqlite3.connect(project / ".digest" / "state.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_one_click_is_recorded_while_a_build_holds_the_lock_and_the_server_answers(
    served: Running, project: Path
) -> None:
    _, token = reader_and_token(project)
    holder = hold_write_lock(project)
    try:
        answer: dict[str, httpx.Response] = {}
        url = f"http://127.0.0.1:{served.port}/unsubscribe/{token}"
        poster = threading.Thread(
            target=lambda: answer.update(post=httpx.post(url, data=ONE_CLICK, timeout=30))
        )
        started = time.monotonic()
        poster.start()
        time.sleep(0.3)
        for _ in range(5):  # the server keeps answering while the POST waits for the lock
            asked = time.monotonic()
            assert served.client.get("/healthz").status_code == 200
            assert time.monotonic() - asked < 0.5
        poster.join(30)
        assert answer["post"].status_code == 200, answer["post"].text
        assert time.monotonic() - started < 5  # not the 30 s busy timeout
        assert "You are unsubscribed" in answer["post"].text
    finally:
        holder.rollback()  # the build ends
        holder.close()
    wait_for(lambda: status(project) == "unsubscribed", 10)


def test_an_unsubscribe_queued_under_the_lock_is_honoured_by_the_next_send(
    project: Path, digest: Digest, servers: Callable[..., Server]
) -> None:
    """The server is stopped before the lock is released: the unsubscribe waits on disk,
    and the send that follows does not mail the reader."""
    relay = servers()
    smtp_configure(project, relay.port)
    configure(project)
    assert digest("build", "--no-send").exit_code == 0
    _, token = reader_and_token(project, READERS[1])
    running = Running(project)
    holder = hold_write_lock(project)
    try:
        assert running.client.post(f"/unsubscribe/{token}", data=ONE_CLICK).status_code == 200
    finally:
        running.stop()
        holder.rollback()
        holder.close()
    sent = digest("send")
    assert sent.exit_code == 0, sent.output
    assert sorted(relay.handler.recipients()) == sorted(set(READERS) - {READERS[1]})
    assert status(project, READERS[1]) == "unsubscribed"


def closed(sock: socket.socket, answers: dict[socket.socket, bytes]) -> bool:
    """Whether the server closed the connection; what it sent is kept in ``answers``."""
    try:
        while chunk := sock.recv(4096):
            answers[sock] = answers.get(sock, b"") + chunk
    except BlockingIOError:
        return False
    except OSError:
        return True
    return True


def test_slow_and_half_sent_requests_are_closed_and_the_server_keeps_answering(
    project: Path, digest: Digest
) -> None:
    configure(project, "serve:\n  requests_per_minute: 1000\n")
    assert digest("build").exit_code == 0
    _, token = reader_and_token(project)
    limits = Limits(head=1.0, body=1.0)
    running = Running(project, limits)
    slow: list[socket.socket] = []
    answers: dict[socket.socket, bytes] = {}
    try:
        for n in range(200):
            sock = socket.create_connection(("127.0.0.1", running.port))
            if n % 4:  # a request head that never ends
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: news.example.org\r\nX-Slow: ")
            else:  # a form body that never ends
                sock.sendall(
                    f"POST /unsubscribe/{token} HTTP/1.1\r\nHost: news.example.org\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\n"
                    "Content-Length: 100\r\n\r\nList-".encode()
                )
            sock.setblocking(False)
            slow.append(sock)
        opened = time.monotonic()
        while not all(closed(sock, answers) for sock in slow):
            assert time.monotonic() - opened < limits.head + limits.body + 3, "clients still held"
            assert running.client.get("/healthz").status_code == 200
            for sock in slow:  # a byte now and then: each read comes in time
                with contextlib.suppress(OSError):
                    sock.send(b"x")
            time.sleep(0.3)
        assert running.client.get("/healthz").status_code == 200
    finally:
        for sock in slow:
            sock.close()
        running.stop()
    for sock in slow[::4]:
        assert answers[sock].startswith(b"HTTP/1.1 408")
    assert status(project) == "active"
