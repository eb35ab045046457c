"""The Projects screen's read: every project with tasks, their template, phases and risks."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, text

from core.store.connect import reader_for
from core.tracker.projects import NEXT_DEADLINE, NO_OWNER, OVERDUE, read_projects

TODAY = date(2026, 11, 23)
STAMP = "2026-11-01 09:00:00.000000"


def fill(engine: Engine) -> None:
    with engine.begin() as connection:
        run = connection.execute
        run(
            text(
                "INSERT INTO staff (id, name, role, active, created_at) "
                "VALUES (1, 'Ana', 'pm', true, :at)"
            ),
            {"at": STAMP},
        )
        run(
            text(
                "INSERT INTO client (id, name, language, created_at) VALUES (:id, :name, 'fr', :at)"
            ),
            [{"id": 1, "name": "Zeta", "at": STAMP}, {"id": 2, "name": "Acme", "at": STAMP}],
        )
        # Inserted out of order; two clients each have a "Website".
        run(
            text("INSERT INTO project (id, client_id, name) VALUES (:id, :client, :name)"),
            [
                {"id": 1, "client": 1, "name": "Website"},
                {"id": 2, "client": 2, "name": "Website"},
                {"id": 3, "client": 2, "name": "Brand"},
                {"id": 4, "client": 2, "name": "Empty"},
            ],
        )
        threads = [
            # id, kind, project, deadline, closed
            (1, "task", 2, "2026-11-20", 0),  # overdue, owned
            (2, "task", 2, "2026-11-30", 0),  # nobody, next deadline
            (3, "task", 2, "2026-11-10", 1),  # closed: neither overdue nor to look at
            (4, "task", 2, None, 0),  # owned, no deadline
            (5, "task", 1, "2026-12-01", 0),
            (6, "task", 3, "2026-11-25", 0),
            (7, "email", 3, "2026-11-01", 0),  # not a task
            (8, "task", None, "2026-11-01", 0),  # no project
        ]
        run(
            text(
                "INSERT INTO thread (id, kind, channel, title, client_id, project_id, deadline, "
                "closed, created_at) VALUES (:id, :kind, 'worksection', :title, NULL, :project, "
                ":deadline, :closed, :at)"
            ),
            [
                {
                    "id": i,
                    "kind": k,
                    "title": f"T{i}",
                    "project": p,
                    "deadline": d,
                    "closed": bool(c),
                    "at": STAMP,
                }
                for i, k, p, d, c in threads
            ],
        )
        run(
            text(
                "INSERT INTO threadref (source, external_id, thread_id) "
                "VALUES ('worksection', :id, :thread)"
            ),
            [{"id": str(900 + i), "thread": i} for i in range(1, 9)],
        )
        run(
            text(
                "INSERT INTO assignment (thread_id, staff_id, role, since) "
                "VALUES (:thread, 1, 'assignee', :at)"
            ),
            [{"thread": i, "at": STAMP} for i in (1, 3, 4, 5, 6)],
        )
        run(
            text(
                "INSERT INTO templatetask (project_id, template, path, title, phase, role, "
                "date_start, date_end, state, task_id, updated_at) VALUES ('77', :template, "
                ":path, 't', :phase, 'pm', '2026-11-02', '2026-11-30', :state, :task, :at)"
            ),
            [
                {
                    "template": "website-launch",
                    "path": '["1"]',
                    "phase": "Brief",
                    "state": "created",
                    "task": "901",
                    "at": STAMP,
                },
                {
                    "template": "website-launch",
                    "path": '["2"]',
                    "phase": "Design",
                    "state": "created",
                    "task": "902",
                    "at": STAMP,
                },
                {
                    "template": "website-launch",
                    "path": '["3"]',
                    "phase": "Brief",
                    "state": "created",
                    "task": "903",
                    "at": STAMP,
                },
                {
                    "template": "other",
                    "path": '["4"]',
                    "phase": "Build",
                    "state": "failed",
                    "task": "904",
                    "at": STAMP,
                },
            ],
        )


def test_projects_by_client_then_name_each_with_its_tasks_template_and_phases(
    engine: Engine, engine_url: str
) -> None:
    fill(engine)
    lines = read_projects(reader_for(engine_url))
    assert [(line.client, line.project) for line in lines] == [
        ("Acme", "Brand"),
        ("Acme", "Website"),
        ("Zeta", "Website"),
    ]
    brand, website, zeta = lines
    assert [task.thread_id for task in brand.tasks] == [6]  # the email is not a task
    assert [task.thread_id for task in website.tasks] == [1, 2, 3, 4]
    assert website.template == "website-launch"  # the failed record counts for nothing
    assert zeta.template is None
    assert website.summary(TODAY) == (
        1,
        4,
        [("Brief", 1, 2), ("Design", 0, 1)],
        1,
        1,
        date(2026, 11, 30),
    )
    assert zeta.summary(TODAY) == (0, 1, [], 0, 0, date(2026, 12, 1))
    assert [task.thread_id for task in website.overdue(TODAY)] == [1]
    assert [task.thread_id for task in website.no_owner()] == [2]
    assert [(task.thread_id, why) for task, why in website.to_look_at(TODAY)] == [
        (1, [OVERDUE]),
        (2, [NO_OWNER, NEXT_DEADLINE]),
    ]
