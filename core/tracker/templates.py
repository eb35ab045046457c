"""Task templates: a TOML file read into a checked tree of tasks (docs/templates.md).

A template is one kind of project's work: tasks, each with subtasks, each
with checklist items; every task has a phase, an owner given by role (the
roles the agency defines, `templates.roles`), a start and a deadline in
business days from the project's start, optional tags (of the tag sets the
template names, known to `templates.tag_sets`) and a description. Tasks may
name a `key`, and others come `after` it.

`load_template` refuses a bad file whole, before anything is written
anywhere: every problem found, each with the file, the line and the reason
(`TemplateError`). Shipped templates live in data/templates/, the agency's
own in the folder `templates.folder` names; one of the agency's with the
same name replaces the shipped one.
"""

from __future__ import annotations

import difflib
import importlib.resources
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core.base.i18n import _
from core.config.settings import TemplatesConfig
from core.tracker.templates_lines import Lines, toml_error_line, toml_error_reason
from core.tracker.templates_lines import Path as KeyPath

RESOURCES = "pmdesk.data"
SUFFIX = ".toml"
# Worksection cuts a description silently past this (a title is far shorter).
MAX_TEXT = 65_536
MAX_TITLE = 500
# A project's work in business days: past this, a day number is a typo.
MAX_DAY = 2_000

_TEMPLATE_KEYS = ("title", "description", "tag_sets", "task")
_TASK_KEYS = (
    "title",
    "phase",
    "role",
    "start",
    "deadline",
    "tags",
    "text",
    "checklist",
    "key",
    "after",
    "subtask",
)


@dataclass(frozen=True)
class Vocabulary:
    """What a template may name: the agency's roles, and its tag sets with their tags."""

    roles: frozenset[str]
    tag_sets: Mapping[str, frozenset[str]]


def vocabulary(config: TemplatesConfig) -> Vocabulary:
    """The roles and tag sets the configuration defines."""
    return Vocabulary(
        frozenset(config.roles),
        {name: frozenset(tags) for name, tags in config.tag_sets.items()},
    )


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a template file, where it is written."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class TemplateError(ValueError):
    """A template refused: every problem found, each with its file and line."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = list(problems)


class UnknownTemplate(LookupError):
    pass


@dataclass(frozen=True)
class TaskSpec:
    """One task of a template, or one subtask (then `parent` is its parent's path)."""

    title: str
    phase: str
    role: str
    start: int
    deadline: int
    tags: tuple[str, ...]
    text: str
    checklist: tuple[str, ...]
    key: str | None
    after: tuple[str, ...]
    # Titles from the top of the tree down to this task: the task's identity
    # in the template (sibling titles are unique), kept when tasks move.
    path: tuple[str, ...]
    line: int
    subtasks: tuple[TaskSpec, ...] = ()

    @property
    def parent(self) -> tuple[str, ...] | None:
        return self.path[:-1] or None


@dataclass(frozen=True)
class Template:
    name: str
    title: str
    description: str
    file: Path
    tag_sets: tuple[str, ...]
    tasks: tuple[TaskSpec, ...] = field(default_factory=tuple)

    def walk(self) -> Iterator[TaskSpec]:
        """Every task, each parent before its subtasks, in the file's order."""
        for task in self.tasks:
            yield task
            yield from task.subtasks

    @property
    def size(self) -> int:
        return sum(1 for _task in self.walk())


# -- finding templates -------------------------------------------------------------


def shipped_folder() -> Path:
    """data/templates/, the templates pmdesk ships."""
    return Path(str(importlib.resources.files(RESOURCES) / "templates"))


def template_files(own_folder: Path | None) -> dict[str, Path]:
    """Each template's name (its file's stem) and file; the agency's win over shipped ones."""
    found: dict[str, Path] = {}
    for folder in (shipped_folder(), own_folder):
        if folder is None or not folder.is_dir():
            continue
        for path in sorted(folder.glob(f"*{SUFFIX}")):
            found[path.stem] = path
    return dict(sorted(found.items()))


def find_template(name: str, own_folder: Path | None) -> Path:
    """The file of the template called `name` (or a path to a template file)."""
    files = template_files(own_folder)
    if name in files:
        return files[name]
    candidate = Path(name).expanduser()
    if candidate.suffix == SUFFIX and candidate.is_file():
        return candidate
    close = difflib.get_close_matches(name, list(files), n=1, cutoff=0.6)
    hint = _(" (did you mean {name}?)").format(name=close[0]) if close else ""
    known = ", ".join(files) or "-"
    raise UnknownTemplate(
        _("no template called {name}{hint}; known: {known}").format(
            name=name, hint=hint, known=known
        )
    )


# -- reading and checking ------------------------------------------------------------


def load_template(path: Path, vocabulary: Vocabulary, name: str | None = None) -> Template:
    """The template in `path`, checked; TemplateError with every problem otherwise."""
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = _("cannot read it: {error}").format(error=error)
        raise TemplateError([Problem(shown, 1, reason)]) from None
    return parse_template(text, shown, vocabulary, name=name or path.stem, file=path)


def parse_template(
    text: str,
    shown: str,
    vocabulary: Vocabulary,
    *,
    name: str = "template",
    file: Path | None = None,
) -> Template:
    """A template from its text; `shown` is how error messages name the file."""
    lines = Lines(text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        reason = _("not valid TOML: {reason}").format(reason=toml_error_reason(message))
        line = toml_error_line(message, lines.count)
        raise TemplateError([Problem(shown, line, reason)]) from None
    checker = _Checker(shown, lines, vocabulary)
    template = checker.template(data, name, file or Path(shown))
    if checker.problems:
        raise TemplateError(sorted(checker.problems, key=lambda problem: problem.line))
    return template


class _Checker:
    """Reads the parsed data into a Template, noting each problem with its line."""

    def __init__(self, shown: str, lines: Lines, vocabulary: Vocabulary) -> None:
        self.shown = shown
        self.lines = lines
        self.vocabulary = vocabulary
        self.problems: list[Problem] = []
        self.tag_sets: tuple[str, ...] = ()
        self.allowed_tags: frozenset[str] = frozenset()
        # Each task's key path in the parsed data, by its path of titles.
        self.wheres: dict[tuple[str, ...], KeyPath] = {}
        # Every key written, the keys of tasks refused for another reason too.
        self.declared: set[str] = set()

    def problem(self, where: KeyPath, key: str | None, reason: str) -> None:
        self.problems.append(Problem(self.shown, self.lines.of(where, key), reason))

    def template(self, data: dict[str, Any], name: str, file: Path) -> Template:
        self.unknown_keys((), data, _TEMPLATE_KEYS)
        title = self.text((), data, "title", required=True, limit=MAX_TITLE) or name
        description = self.text((), data, "description") or ""
        self.tag_sets = self.names((), data, "tag_sets")
        for tag_set in self.tag_sets:
            if tag_set not in self.vocabulary.tag_sets:
                known = ", ".join(sorted(self.vocabulary.tag_sets)) or "-"
                self.problem(
                    (),
                    "tag_sets",
                    _("unknown tag set {name!r} (templates.tag_sets knows: {known})").format(
                        name=tag_set, known=known
                    ),
                )
            else:
                self.allowed_tags |= self.vocabulary.tag_sets[tag_set]
        tasks = data.get("task")
        if not isinstance(tasks, list) or not tasks:
            self.problem((), "task", _("a template needs at least one [[task]]"))
            tasks = []
        specs = self.siblings([("task", index) for index in range(len(tasks))], tasks, None)
        template = Template(name, title, description, file, self.tag_sets, tuple(specs))
        self.order(template)
        return template

    def siblings(
        self, wheres: list[KeyPath], items: list[Any], parent: TaskSpec | None
    ) -> list[TaskSpec]:
        specs: list[TaskSpec] = []
        seen: dict[str, int] = {}
        for where, item in zip(wheres, items, strict=True):
            if not isinstance(item, dict):
                self.problem(where, None, _("a task must be a table"))
                continue
            spec = self.task(where, item, parent)
            if spec is None:
                continue
            if spec.title in seen:
                self.problem(
                    where,
                    "title",
                    _("two tasks here are called {title!r} (the other at line {line})").format(
                        title=spec.title, line=seen[spec.title]
                    ),
                )
                continue
            seen[spec.title] = spec.line
            specs.append(spec)
        return specs

    def task(
        self, where: KeyPath, item: dict[str, Any], parent: TaskSpec | None
    ) -> TaskSpec | None:
        keys = _TASK_KEYS if parent is None else _TASK_KEYS[:-1]
        if parent is not None and "subtask" in item:
            self.problem(where, "subtask", _("subtasks go one level deep: a subtask has none"))
        self.unknown_keys(where, item, keys, skip=("subtask",))
        title = self.text(where, item, "title", required=True, limit=MAX_TITLE)
        phase = self.text(where, item, "phase", required=parent is None, limit=MAX_TITLE)
        role = self.text(where, item, "role", required=parent is None)
        if role is not None and role not in self.vocabulary.roles:
            known = ", ".join(sorted(self.vocabulary.roles)) or "-"
            self.problem(
                where,
                "role",
                _("unknown role {role!r} (templates.roles knows: {known})").format(
                    role=role, known=known
                ),
            )
        start = self.day(where, item, "start", required=parent is None)
        deadline = self.day(where, item, "deadline", required=parent is None)
        if parent is not None:
            start = parent.start if start is None else start
            deadline = parent.deadline if deadline is None else deadline
        tags = self.names(where, item, "tags")
        for tag in tags:
            if tag not in self.allowed_tags:
                self.problem(
                    where,
                    "tags",
                    _("tag {tag!r} is in none of the template's tag sets ({sets})").format(
                        tag=tag, sets=", ".join(self.tag_sets) or "-"
                    ),
                )
        text = self.text(where, item, "text", limit=MAX_TEXT) or ""
        checklist = self.names(where, item, "checklist", limit=MAX_TEXT)
        key = self.text(where, item, "key", limit=MAX_TITLE)
        if key is not None:
            self.declared.add(key)
        after = self.names(where, item, "after")
        if title is None or start is None or deadline is None:
            return None
        if deadline < start:
            self.problem(
                where,
                "deadline",
                _("deadline on day {deadline}, before its start on day {start}").format(
                    deadline=deadline, start=start
                ),
            )
        if parent is not None and (start < parent.start or deadline > parent.deadline):
            self.problem(
                where,
                "start" if start < parent.start else "deadline",
                _("days {start}-{deadline} are outside its parent's days {first}-{last}").format(
                    start=start, deadline=deadline, first=parent.start, last=parent.deadline
                ),
            )
        spec = TaskSpec(
            title=title,
            phase=phase or (parent.phase if parent else ""),
            role=role or (parent.role if parent else ""),
            start=start,
            deadline=deadline,
            tags=tags,
            text=text,
            checklist=checklist,
            key=key,
            after=after,
            path=(*(parent.path if parent else ()), title),
            line=self.lines.of(where),
        )
        self.wheres.setdefault(spec.path, where)
        if parent is None:
            items = item.get("subtask", [])
            if not isinstance(items, list):
                self.problem(where, "subtask", _("subtask must be written [[task.subtask]]"))
                items = []
            wheres: list[KeyPath] = [(*where, "subtask", index) for index in range(len(items))]
            children = self.siblings(wheres, items, spec)
            spec = replace(spec, subtasks=tuple(children))
        return spec

    def order(self, template: Template) -> None:
        """`key`s unique, `after` naming known keys, no cycle, each task after what it follows."""
        by_key: dict[str, TaskSpec] = {}
        for task in template.walk():
            if task.key is None:
                continue
            if task.key in by_key:
                self.at_task(
                    task,
                    "key",
                    _("key {key!r} is already the key of {title!r}").format(
                        key=task.key, title=by_key[task.key].title
                    ),
                )
                continue
            by_key[task.key] = task
        for task in template.walk():
            for key in task.after:
                before = by_key.get(key)
                if before is None and key not in self.declared:
                    self.at_task(
                        task, "after", _("after {key!r}: no task has that key").format(key=key)
                    )
                elif (
                    before is not None and task.start < before.deadline and before.path != task.path
                ):
                    self.at_task(
                        task,
                        "start",
                        _(
                            "starts on day {start}, before {title!r}, which it comes after, "
                            "ends (day {deadline})"
                        ).format(start=task.start, title=before.title, deadline=before.deadline),
                    )
        cycle = find_cycle(
            {key: [k for k in task.after if k in by_key] for key, task in by_key.items()}
        )
        if cycle:
            self.at_task(
                by_key[cycle[0]],
                "after",
                _("a cycle: {keys}").format(keys=" -> ".join([*cycle, cycle[0]])),
            )

    def at_task(self, task: TaskSpec, key: str, reason: str) -> None:
        self.problem(self.wheres[task.path], key, reason)

    # -- values --------------------------------------------------------------------

    def unknown_keys(
        self, where: KeyPath, data: dict[str, Any], known: Iterable[str], skip: Iterable[str] = ()
    ) -> None:
        allowed = list(known)
        for key in data:
            if key in allowed or key in skip:
                continue
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.7)
            hint = _(" (did you mean {name}?)").format(name=close[0]) if close else ""
            self.problem(where, key, _("unknown key {key!r}{hint}").format(key=key, hint=hint))

    def text(
        self,
        where: KeyPath,
        data: dict[str, Any],
        key: str,
        *,
        required: bool = False,
        limit: int | None = None,
    ) -> str | None:
        value = data.get(key)
        if value is None:
            if required:
                self.problem(where, None, _("{key} is missing").format(key=key))
            return None
        if not isinstance(value, str) or (required and not value.strip()):
            self.problem(where, key, _("{key} must be a text").format(key=key))
            return None
        if limit is not None and len(value) > limit:
            self.problem(
                where,
                key,
                _("{key} is {length} characters long, {limit} at most").format(
                    key=key, length=len(value), limit=limit
                ),
            )
            return None
        return value.strip() if limit == MAX_TITLE else value

    def names(
        self, where: KeyPath, data: dict[str, Any], key: str, *, limit: int = MAX_TITLE
    ) -> tuple[str, ...]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(
            isinstance(each, str) and each.strip() for each in value
        ):
            self.problem(where, key, _("{key} must be a list of texts").format(key=key))
            return ()
        for each in value:
            if len(each) > limit:
                self.problem(
                    where,
                    key,
                    _("{key} is {length} characters long, {limit} at most").format(
                        key=key, length=len(each), limit=limit
                    ),
                )
                return ()
        return tuple(each.strip() for each in value)

    def day(self, where: KeyPath, data: dict[str, Any], key: str, *, required: bool) -> int | None:
        value = data.get(key)
        if value is None:
            if required:
                self.problem(where, None, _("{key} is missing").format(key=key))
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAY:
            self.problem(
                where,
                key,
                _("{key} must be a number of business days from 0 to {most}").format(
                    key=key, most=MAX_DAY
                ),
            )
            return None
        return value


def find_cycle(edges: Mapping[str, Sequence[str]]) -> list[str]:
    """One cycle of the graph (its nodes in order), or [] when there is none."""
    state: dict[str, int] = {}  # 1: on the current walk, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, ()):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []
