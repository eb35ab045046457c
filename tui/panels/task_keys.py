"""The keys that change a thread's Worksection task (tui/screens/tracker.py asks and queues).

One list for the thread view and the Projects screen: shift and a letter,
never a key of the thread, the main screen or the app; each screen's
`action_tracker(verb)` says which task.
"""

from __future__ import annotations

from textual.binding import Binding

from core.base.i18n import N_

# (key, verb, description, shown in the footer, tooltip)
_KEYS = (
    ("D", "deadline", N_("Deadline"), True, N_("Reschedule the task's deadline in Worksection")),
    ("T", "todo", N_("Checklist"), True, N_("Add checklist items to the task in Worksection")),
    ("S", "subtask", N_("Subtask"), True, N_("Create a subtask of the task in Worksection")),
    (
        "O",
        "owner",
        N_("Owner"),
        True,
        N_("Change the task's owner in Worksection, or unassign it"),
    ),
    ("C", "close", N_("Close task"), False, N_("Close the task in Worksection")),
    ("R", "reopen", N_("Reopen task"), False, N_("Reopen the task in Worksection")),
    ("number_sign", "tags", N_("Tags"), False, N_("Add or remove the task's tags in Worksection")),
)


def task_bindings(scope: str) -> list[Binding]:
    """The task keys with ids `<scope>.<verb>` (thread.deadline, projects.deadline...)."""
    return [
        Binding(key, f"tracker('{verb}')", label, show=shown, id=f"{scope}.{verb}", tooltip=tip)
        for key, verb, label, shown, tip in _KEYS
    ]
