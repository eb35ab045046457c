"""Template files: the shipped ones pass, and every bad kind is refused with file, line, reason."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from core.config.settings import Settings, TemplatesConfig
from core.tracker.templates import (
    Problem,
    TemplateError,
    UnknownTemplate,
    find_cycle,
    find_template,
    load_template,
    parse_template,
    shipped_folder,
    template_files,
    vocabulary,
)
from core.tracker.templates_lines import Lines

WORDS = vocabulary(TemplatesConfig())
SHIPPED = ("ad-campaign", "seo-retainer", "website-launch")

GOOD = """\
title = "Small site"
tag_sets = ["Phase"]

[[task]]
key = "brief"
title = "Context and goal"
phase = "Brief"
role = "pm"
start = 0
deadline = 2
tags = ["Brief"]
text = \"\"\"
The brief.
role = "not a key: inside a text"
\"\"\"
checklist = ["Goal", "Budget"]

[[task.subtask]]
title = "Kick-off call"
start = 0
deadline = 0

[[task]]
title = "Design"
phase = "Design"
role = "designer"
start = 3
deadline = 6
after = ["brief"]

[[task.subtask]]
title = "Mock-up"
role = "developer"
"""


def problems(text: str, name: str = "site.toml") -> list[Problem]:
    with pytest.raises(TemplateError) as refused:
        parse_template(text, name, WORDS)
    return refused.value.problems


def only(text: str) -> tuple[int, str]:
    found = problems(text)
    assert len(found) == 1, found
    assert found[0].file == "site.toml"
    return found[0].line, found[0].reason


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """The line number of the nth line holding `needle`."""
    seen = 0
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == nth:
                return number
    raise AssertionError(needle)


def test_a_good_template_is_a_tree_with_inherited_phase_role_and_days() -> None:
    template = parse_template(GOOD, "site.toml", WORDS, name="site")

    assert [task.path for task in template.walk()] == [
        ("Context and goal",),
        ("Context and goal", "Kick-off call"),
        ("Design",),
        ("Design", "Mock-up"),
    ]
    mock_up = template.tasks[1].subtasks[0]
    assert (mock_up.phase, mock_up.role, mock_up.start, mock_up.deadline) == (
        "Design",
        "developer",
        3,
        6,
    )
    assert template.tasks[0].checklist == ("Goal", "Budget")
    assert template.tasks[0].text.strip().startswith("The brief.")
    assert template.size == 4


@pytest.mark.parametrize("name", SHIPPED)
def test_the_shipped_templates_pass_and_begin_with_the_brief(name: str) -> None:
    template = load_template(template_files(None)[name], WORDS)

    assert template.tasks[0].title == "Context and goal"
    assert 15 <= template.size <= 40
    assert all(task.phase and task.role for task in template.walk())


def test_an_unknown_role_is_refused_on_its_line() -> None:
    text = GOOD.replace('role = "developer"', 'role = "ninja"')
    line, reason = only(text)
    assert line == line_of(text, 'role = "ninja"')
    assert "unknown role 'ninja'" in reason and "designer" in reason


def test_a_deadline_before_its_start_is_refused_on_the_deadline() -> None:
    text = GOOD.replace("start = 3\ndeadline = 6", "start = 3\ndeadline = 1")
    found = problems(text)
    assert (found[0].line, found[0].reason) == (
        line_of(text, "deadline = 1"),
        "deadline on day 1, before its start on day 3",
    )


def test_a_subtask_outside_its_parents_days_is_refused() -> None:
    text = GOOD.replace(
        'title = "Kick-off call"\nstart = 0\ndeadline = 0',
        'title = "Kick-off call"\nstart = 0\ndeadline = 5',
    )
    line, reason = only(text)
    assert line == line_of(text, "deadline = 5")
    assert "outside its parent's days 0-2" in reason


def test_an_unknown_tag_set_and_a_tag_of_no_set_are_refused() -> None:
    text = GOOD.replace('tag_sets = ["Phase"]', 'tag_sets = ["Phase", "Moods"]')
    text = text.replace('tags = ["Brief"]', 'tags = ["Brief", "Urgent"]')
    found = problems(text)
    assert [(problem.line, problem.reason.split(" (")[0]) for problem in found] == [
        (line_of(text, "tag_sets"), "unknown tag set 'Moods'"),
        (line_of(text, "tags = "), "tag 'Urgent' is in none of the template's tag sets"),
    ]


def test_a_cycle_of_after_is_refused_with_its_keys() -> None:
    text = GOOD.replace('title = "Design"\n', 'title = "Design"\nkey = "design"\n')
    text = text.replace('key = "brief"\n', 'key = "brief"\nafter = ["design"]\n')
    found = problems(text)
    cycle = [problem for problem in found if "cycle" in problem.reason]
    assert len(cycle) == 1
    assert cycle[0].reason == "a cycle: brief -> design -> brief"
    assert cycle[0].line == line_of(text, 'after = ["design"]')


def test_after_an_unknown_key_or_before_what_it_follows_is_refused() -> None:
    text = GOOD.replace('after = ["brief"]', 'after = ["brief", "nope"]').replace(
        "start = 3\n", "start = 1\n"
    )
    found = problems(text)
    assert [(problem.line, problem.reason) for problem in found] == [
        (
            line_of(text, "start = 1"),
            "starts on day 1, before 'Context and goal', which it comes after, ends (day 2)",
        ),
        (line_of(text, "after = "), "after 'nope': no task has that key"),
    ]


def test_a_toml_error_gives_tomllibs_line() -> None:
    text = GOOD.replace('phase = "Design"', 'phase = "Design')
    line, reason = only(text)
    assert line == line_of(text, 'phase = "Design')
    assert reason.startswith("not valid TOML: ")
    assert "line" not in reason


def test_unknown_keys_missing_keys_and_wrong_kinds_each_name_their_line() -> None:
    text = GOOD.replace('role = "designer"', 'owner = "designer"').replace(
        "deadline = 2", 'deadline = "2"'
    )
    found = problems(text)
    assert [(problem.line, problem.reason) for problem in found] == [
        (
            line_of(text, 'deadline = "2"'),
            "deadline must be a number of business days from 0 to 2000",
        ),
        (line_of(text, "[[task]]", 2), "role is missing"),
        (line_of(text, 'owner = "designer"'), "unknown key 'owner'"),
    ]


def test_a_typo_in_a_key_suggests_the_right_one() -> None:
    _line, reason = only(GOOD.replace("checklist =", "checklst ="))
    assert reason == "unknown key 'checklst' (did you mean checklist?)"


def test_two_sibling_tasks_with_one_title_are_refused() -> None:
    text = GOOD + '\n[[task.subtask]]\ntitle = "Mock-up"\n'
    line, reason = only(text)
    assert line == line_of(text, 'title = "Mock-up"', 2)
    other = line_of(text, "[[task.subtask]]", 2)
    assert reason == f"two tasks here are called 'Mock-up' (the other at line {other})"


def test_subtasks_go_one_level_deep() -> None:
    text = GOOD + '\n[[task.subtask.subtask]]\ntitle = "Deeper"\n'
    line, reason = only(text)
    assert line == line_of(text, "[[task.subtask.subtask]]")
    assert reason == "subtasks go one level deep: a subtask has none"


def test_a_template_without_tasks_is_refused() -> None:
    assert only('title = "Empty"\n') == (1, "a template needs at least one [[task]]")


def test_every_problem_is_reported_in_line_order() -> None:
    text = GOOD.replace('role = "pm"', 'role = "boss"').replace(
        'role = "developer"', 'role = "ninja"'
    )
    found = problems(text)
    assert [problem.line for problem in found] == sorted(problem.line for problem in found)
    assert len(found) == 2
    assert str(found[0]) == f"site.toml:{line_of(text, 'boss')}: " + found[0].reason


def test_a_file_that_cannot_be_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_bytes(b"title = \xff\n")
    with pytest.raises(TemplateError) as refused:
        load_template(path, WORDS)
    assert refused.value.problems[0].file == str(path)
    assert refused.value.problems[0].line == 1


def test_lines_place_keys_of_inline_tables_on_their_nearest_header() -> None:
    text = textwrap.dedent(
        """\
        # a comment
        [[task]]
        title = "A"
        subtask = [{ title = "B", deadline = 9 }]
        "quoted key" = 1

        [[task]]
        title = "C"
        """
    )
    lines = Lines(text)
    assert lines.of(("task", 0), "title") == 3
    assert lines.of(("task", 0, "subtask", 0), "deadline") == 4
    assert lines.of(("task", 0), "quoted key") == 5
    assert lines.of(("task", 1), "title") == 8
    assert lines.of(("task", 1), "missing") == 7
    assert lines.of((), "nothing") == 1


def test_the_agencys_own_template_replaces_a_shipped_one(tmp_path: Path) -> None:
    (tmp_path / "seo-retainer.toml").write_text(GOOD)
    (tmp_path / "notes.txt").write_text("not a template")
    files = template_files(tmp_path)

    assert files["seo-retainer"] == tmp_path / "seo-retainer.toml"
    assert files["website-launch"].parent == shipped_folder()
    assert set(files) == set(SHIPPED)
    with pytest.raises(UnknownTemplate, match="did you mean website-launch"):
        find_template("website-lunch", tmp_path)


def test_roles_and_tag_sets_come_from_the_configuration() -> None:
    settings = Settings(templates={"roles": ["pm", "designer"], "tag_sets": {"Phase": ["Brief"]}})
    words = vocabulary(settings.templates)
    text = GOOD.replace('role = "developer"', 'role = "pm"')
    template = parse_template(text, "site.toml", words)
    assert template.size == 4
    with pytest.raises(TemplateError, match=r"unknown role '(designer|developer)'"):
        parse_template(
            GOOD, "site.toml", vocabulary(Settings(templates={"roles": ["pm"]}).templates)
        )


def test_find_cycle() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) == []
    assert find_cycle({"a": ["b"], "b": ["a"]}) == ["a", "b"]
    assert find_cycle({"a": ["a"]}) == ["a"]
