"""The bounded YAML loader: the same data as PyYAML's safe loader for any document it
accepts, and a refusal, naming a line, exactly when aliases would expand past the bound."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from newsletter_digest.config import yamlload

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=20), st.floats(allow_nan=False)
)
DATA = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


@given(DATA)
def test_documents_without_aliases_load_as_pyyaml_loads_them(data: Any) -> None:
    text = yaml.safe_dump(data, allow_unicode=True)
    assert yamlload.load(text) == yaml.safe_load(text)


def chain(width: int, depth: int) -> tuple[str, int]:
    """A chain of anchors, each a list of ``width`` aliases of the one before, and the values
    the whole document expands to when every alias is written out (keys included)."""
    lines = ["l0: &l0 [x]"]
    size = 2  # the list and its item
    total = 1 + 1 + size  # the document's mapping, the first key, its list
    for level in range(1, depth + 1):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
        size = 1 + width * size
        total += 1 + size
    return "\n".join(lines) + "\n", total


@given(st.integers(min_value=1, max_value=12), st.integers(min_value=1, max_value=8))
@example(2, 14)  # 98,302 values in all: just within the bound
@example(2, 15)  # 196,606: past it
def test_an_alias_chain_is_refused_exactly_when_it_expands_past_the_bound(
    width: int, depth: int
) -> None:
    text, total = chain(width, depth)
    if total <= yamlload.MAX_VALUES:
        loaded = yamlload.load(text)
        assert loaded == yaml.safe_load(text)
    else:
        with pytest.raises(yamlload.YamlError) as info:
            yamlload.load(text)
        assert info.value.line is not None and 1 <= info.value.line <= depth + 1


def test_keys_and_items_know_their_lines() -> None:
    _, lines = yamlload.load_with_lines("a: 1\nsmtp:\n  host: h\n  port: 2\nlist:\n  - x\n  - y\n")
    assert lines[("a",)] == 1
    assert lines[("smtp", "port")] == 4
    assert lines[("list", 1)] == 7
