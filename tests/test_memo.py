"""The memo of renderings: kept between runs, bounded, and never trusted across versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newsletter_digest import memo


@pytest.fixture(autouse=True)
def fresh_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an empty memo, whatever other tests loaded into this process."""
    monkeypatch.setattr(memo, "_tables", {})
    monkeypatch.setattr(memo, "_path", None)
    monkeypatch.setattr(memo, "_added", False)


def test_remembered_results_come_back_in_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "memo.json"
    memo.load(path)
    memo.remember("markdown", "*a*", ["<p><em>a</em></p>", "a"])
    memo.save()
    monkeypatch.setattr(memo, "_tables", {})  # as a new process would start
    assert memo.lookup("markdown", "*a*") is None
    memo.load(path)
    assert memo.lookup("markdown", "*a*") == ["<p><em>a</em></p>", "a"]


def test_nothing_is_written_when_nothing_was_added(tmp_path: Path) -> None:
    memo.load(tmp_path / "memo.json")
    memo.save()
    assert not (tmp_path / "memo.json").exists()


def test_the_file_keeps_the_newest_entries_up_to_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memo, "LIMIT", 3)
    memo.load(tmp_path / "memo.json")
    for n in range(5):
        memo.remember("markdown", f"body {n}", [f"<p>{n}</p>", str(n)])
    memo.save()
    kept = json.loads((tmp_path / "memo.json").read_bytes())["tables"]["markdown"]
    assert list(kept) == ["body 2", "body 3", "body 4"]


def test_a_memo_from_other_code_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "memo.json"
    path.write_text(
        json.dumps({"key": "0" * 64, "tables": {"markdown": {"*a*": ["<b>old</b>", "old"]}}}),
        encoding="utf-8",
    )
    memo.load(path)
    assert memo.lookup("markdown", "*a*") is None
