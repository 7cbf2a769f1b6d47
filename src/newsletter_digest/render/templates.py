"""The templates' side of rendering: loading them (the user's folder first, then the built-in
ones), the Jinja2 environments and filters, compiled templates kept on disk, and turning
whatever a template raised into a TemplateError naming its file and line.

Used by the email's renderer (renderer.py) and by the web pages of the archive and serve.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from newsletter_digest.errors import TemplateError, shorten
from newsletter_digest.render.cache import RenderCache
from newsletter_digest.render.styles import inline_css

__all__ = [
    "PACKAGE_TEMPLATES",
    "VARIABLES_HINT",
    "RecordEnvironment",
    "TemplateLoader",
    "add_filters",
    "bytecode_cache",
    "describe_template",
    "long_date",
    "page_environment",
    "template_cache_dir",
    "template_environment",
    "template_error",
    "template_loader",
    "template_path",
]

PACKAGE_TEMPLATES = Path(__file__).parent.parent / "templates"
VARIABLES_HINT = (
    "templates see: title, sender, subject, preheader, unsubscribe, footer, base_url, web_url, "
    "issue (number, date) and excerpts (each: id, title, author, source, url, tags, html, text)"
)


def long_date(value: date) -> str:
    """Format a date as "3 March 2025", the same in every locale-free run."""
    return f"{value.day} {value:%B} {value.year}"


def template_cache_dir(state: Path) -> Path:
    """Where compiled templates are kept: beside the state database."""
    return state.parent / "template-cache"


class _ReadOnlyBytecodeCache(jinja2.FileSystemBytecodeCache):
    """Compiled templates read from the cache but never written (the dry run writes nothing)."""

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        """Keep what was compiled for this run only."""


def bytecode_cache(folder: Path | None, *, save: bool = True) -> jinja2.BytecodeCache | None:
    """Compiled templates kept on disk between runs; none where the folder cannot be made.

    ``save=False`` only reads what earlier runs kept (checked against each template's source
    as always), and creates nothing.
    """
    if folder is None:
        return None
    if not save:
        return _ReadOnlyBytecodeCache(str(folder)) if folder.is_dir() else None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(folder))


_TUPLE_METHODS = frozenset(("count", "index"))


class RecordEnvironment(jinja2.Environment):
    """Jinja2 for templates that see our records (NamedTuples): a typo that happens to name
    a tuple method (``issue.count``, ``excerpt.index``) is undefined, as for any other name,
    so ``digest check`` reports it instead of the email showing ``<built-in method ...>``."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Look ``attribute`` up on ``obj`` as Jinja2 does, but not tuple methods on a record."""
        if attribute in _TUPLE_METHODS and isinstance(obj, tuple) and hasattr(obj, "_fields"):
            return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


def template_environment(
    loader: jinja2.BaseLoader,
    cache: RenderCache,
    *,
    autoescape: bool,
    cache_dir: Path | None = None,
    save_cache: bool = True,
) -> jinja2.Environment:
    """One Jinja2 environment: strict undefined, compiled templates kept for the run."""
    env = RecordEnvironment(
        bytecode_cache=bytecode_cache(cache_dir, save=save_cache),
        loader=loader,
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        cache_size=-1,
    )
    add_filters(env, cache)
    return env


def add_filters(env: jinja2.Environment, cache: RenderCache) -> None:
    """The filters every template sees: ``markdown`` (safe HTML), ``markdown_text``,
    ``longdate`` and ``inline_css``, the costly ones answered from ``cache``."""
    env.filters["markdown"] = lambda value: Markup(cache.markdown(value).html)  # sanitized
    env.filters["markdown_text"] = lambda value: cache.markdown(value).text
    env.filters["longdate"] = long_date
    env.filters["inline_css"] = lambda html, css: inline_css(html, css, cache.inline_css)


def template_loader(templates_dir: Path | None) -> jinja2.BaseLoader:
    """The user's template folder first (when there is one), then the shipped templates."""
    loaders: list[jinja2.BaseLoader] = [TemplateLoader(PACKAGE_TEMPLATES)]
    if templates_dir is not None and templates_dir.is_dir():
        loaders.insert(0, TemplateLoader(templates_dir))
    return jinja2.ChoiceLoader(loaders)


def page_environment(
    templates_dir: Path | None, cache_dir: Path | None = None, cache: RenderCache | None = None
) -> jinja2.Environment:
    """An autoescaped environment for a web page (the archive), with the email's loaders
    and filters, so a page template is found and behaves as the email's templates do."""
    return template_environment(
        template_loader(templates_dir), cache or RenderCache(), autoescape=True, cache_dir=cache_dir
    )


class UnreadableTemplate(jinja2.TemplateError):
    """A template file that is not UTF-8 text, or cannot be read at all."""

    def __init__(self, path: str, problem: str, hint: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
        self.hint = hint


class TemplateLoader(jinja2.FileSystemLoader):
    """A FileSystemLoader that names the file it cannot read.

    Jinja2 reads a template with ``open(...).read()``, so a file that is not UTF-8 (or not
    readable) raises UnicodeDecodeError or OSError from inside the loader, with no template
    line in the traceback and no file name in the message. This raises
    :class:`UnreadableTemplate` instead: a Jinja2 error that says which file and why.
    """

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        try:
            return super().get_source(environment, template)
        except jinja2.TemplateNotFound:
            raise  # an OSError too, but one the ChoiceLoader needs to try the next folder
        except UnicodeDecodeError as e:
            path = self._find(template)
            raise UnreadableTemplate(
                path, f"not valid UTF-8 ({_bad_byte(path, e)})", "save the file as UTF-8 text"
            ) from e
        except OSError as e:
            path = self._find(template)
            raise UnreadableTemplate(
                path, f"cannot be read: {e.strerror or e}", "make the file readable"
            ) from e

    def _find(self, template: str) -> str:
        """The file ``template`` loads from (the same search FileSystemLoader does)."""
        pieces = jinja2.loaders.split_template_path(template)
        for folder in self.searchpath:
            path = posixpath.join(folder, *pieces)
            if Path(path).is_file():
                return path
        return template


def _bad_byte(path: str, error: UnicodeDecodeError) -> str:
    """Where a file stops being UTF-8: its line and the byte (Jinja2 decodes in chunks)."""
    try:
        data = Path(path).read_bytes()
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        return f"line {line}: byte 0x{data[e.start]:02x}"
    except OSError:
        pass
    return error.reason


def template_path(templates_dir: Path | None, name: str) -> str:
    """The file a template name loads from (the user's folder first), named for messages."""
    for folder in (templates_dir, PACKAGE_TEMPLATES):
        if folder is not None and (folder / name).is_file():
            return describe_template(str(folder / name), name)
    return name


def describe_template(filename: str | None, fallback: str = "template") -> str:
    """Name a template for a message: a user file by path, a built-in one as such."""
    if not filename or filename.startswith("<"):
        return fallback
    path = Path(filename)
    if path.is_absolute() and path.is_relative_to(PACKAGE_TEMPLATES):
        return f"built-in template {path.relative_to(PACKAGE_TEMPLATES).as_posix()}"
    return str(path)


def template_error(
    exc: BaseException,
    label: str = "template",
    *,
    templates_dir: Path | None = None,
    variables_hint: str = VARIABLES_HINT,
) -> TemplateError:
    """Turn any exception a template raised into a TemplateError naming its file (and line).

    ``label`` names the template when no template file is in the traceback.
    """
    label = "digest.yaml " + label if label in ("subject", "preheader") else label
    if isinstance(exc, UnreadableTemplate):
        return TemplateError(f"{describe_template(exc.path, label)}: {exc.problem}", exc.hint)
    if isinstance(exc, jinja2.TemplateSyntaxError):
        where = describe_template(exc.filename or exc.name, label)
        line = f", line {exc.lineno}" if exc.lineno else ""
        return TemplateError(
            f"{where}{line}: {exc.message}",
            "fix the Jinja2 syntax (https://jinja.palletsprojects.com/templates/)",
        )
    frame = _template_frame(exc)
    where = describe_template(frame[0], label) if frame else describe_template(None, label)
    line = f", line {frame[1]}" if frame else ""
    if isinstance(exc, jinja2.TemplateNotFound):
        folder = templates_dir or "the templates folder"
        return TemplateError(
            f"{where}{line}: template {shorten(exc.name)} not found",
            f"put it in {folder} or fix the name; built-in templates are the fallback",
        )
    if isinstance(exc, jinja2.UndefinedError):
        return TemplateError(f"{where}{line}: {exc.message}", variables_hint)
    if isinstance(exc, jinja2.TemplateError) or frame is not None:
        return TemplateError(
            f"{where}{line}: {type(exc).__name__}: {exc}",
            "fix the expression on that line",
        )
    # Raised outside every template line: while Jinja2 compiled the template, say, when it
    # nests deeper than Python allows. Still the template's doing, so still a user error.
    detail = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    return TemplateError(
        f"{where}: {type(exc).__name__}: {detail}",
        "simplify the template (Jinja2 could not compile it as it is)",
    )


def _template_frame(exc: BaseException) -> tuple[str, int] | None:
    """The innermost template file and line in a traceback Jinja2 rewrote, if any."""
    found: tuple[str, int] | None = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__jinja_exception__") is exc:
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found
