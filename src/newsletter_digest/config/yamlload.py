"""YAML for digest.yaml and front matter: PyYAML's safe loader, bounded.

Safe loading builds only plain data, but aliases still let a few lines stand for billions
of values ("billion laughs"): the loader shares them, and whatever walks the result
(validation, an error message) pays for every copy. So the document is composed first, its
size counted as if every alias were written out, and refused past :data:`MAX_VALUES`
before anything is built from it.
"""

from __future__ import annotations

from typing import Any

import yaml

# Values a document may expand to, aliases written out. digest.yaml and front matter are
# small; 100,000 leaves room for a long inline recipients list (use recipients_file past that).
MAX_VALUES = 100_000
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlError(Exception):
    """The text is not YAML this program reads; ``line`` is 1-based, within the text."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


Lines = dict[tuple[str | int, ...], int]


def load(text: str) -> Any:
    """The YAML document in ``text`` as plain data; YamlError for bad or oversized YAML."""
    return load_with_lines(text)[0]


def load_with_lines(text: str) -> tuple[Any, Lines]:
    """The document, and the 1-based line of each key (and list item) by its path, so a
    message about ``smtp.port`` can say where in the file it is."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _check_size(node)
        return loader.construct_document(node), _lines(node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        detail = " ".join(str(part) for part in (e.context, e.problem) if part)
        raise YamlError(detail, mark.line + 1 if mark is not None else None) from e
    except yaml.YAMLError as e:
        raise YamlError(str(e), None) from e
    except RecursionError as e:  # nesting thousands deep
        raise YamlError("nested too deeply", None) from e
    finally:
        loader.dispose()


def _check_size(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand past MAX_VALUES, or refer to themselves.

    Each node's expanded size is computed once (aliases share nodes), so the check costs
    the size of the text, not of the expansion.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise YamlError("an alias refers to the value that contains it", _line(node))
        open_nodes.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        open_nodes.discard(key)
        if total > MAX_VALUES:
            raise YamlError(
                f"aliases (*name) here expand to more than {MAX_VALUES:,} values; "
                "write the values out instead of repeating aliases",
                _line(node),
            )
        sizes[key] = total
        return total

    size(root)


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _lines(root: yaml.Node) -> Lines:
    lines: Lines = {}
    seen: set[int] = set()

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> None:
        if id(node) in seen:  # an alias: its own lines are recorded where it is defined
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    lines[(*path, str(key.value))] = _line(key)
                    walk(value, (*path, str(key.value)))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines[(*path, index)] = _line(item)
                walk(item, (*path, index))

    walk(root, ())
    return lines
