"""A fake Worksection account served over real HTTP on 127.0.0.1.

It speaks the admin API as the connector uses it: `GET|POST
/api/admin/v2/?action=...&...&hash=<md5(query + key)>` (a wrong hash is an
error envelope), `/api/oauth2` with a bearer token, and always HTTP 200 with
`{"status": "ok", "data": ...}` or `{"status": "error", "status_code": N,
"message": ...}` (except when told to fail with a 500 or an outage).

Actions: get_projects (`filter=active`); get_tasks (`id_project`,
`extra=tags`, `filter=active`) and get_all_tasks (the same for the whole
account), both an error past `max_records` (10,000) as Worksection's
answers are; get_events (period `1..360m`, `1..72h` or `1..30d`, anything
else an error envelope; items whose `date_added`, in the account's time
zone, falls in it, of one project with `id_project`; an error past
`max_records`); get_task; get_costs (`datestart`..`dateend` as `DD.MM.YYYY`, both
included, `id_project`, `id_task`; the rows tests add, edit and delete
with `add_cost`, `edit_cost`, `delete_cost`; an error past `max_records`);
add_costs (its parameters checked as documented, the row recorded in
`added_costs` and served by get_costs; answers the new row's `id`);
post_comment (the comment then appears in
get_events with our text and author; `text` or `todo[]`, each cut past
65,536 characters as Worksection cuts a description). Calls closer together than
`min_interval` get a rate-limit error envelope, as Worksection's one
request a second does; a request line over 8 KB gets HTTP 414. A POST's
parameters may come in a form body, which the hash then covers.

Writing tasks, each checking its parameters as the API documents them
(anything else an error envelope with a message): post_task (`id_project`,
`title`; `id_parent` makes a subtask, listed in its parent's `child`;
`email_user_to` an address of the account, `NOONE` or `ANY`; `todo[]`
repeated, one checkbox each; `datestart`/`dateend` as `DD.MM.YYYY`, the
start not after the end; `tags` known to the account when `known_tags` is
set; `priority` 0..10), update_task (owner, title, priority, dates, `tags`
replacing all), update_task_tags (`plus`, `minus`), complete_task,
reopen_task, search_tasks (`id_project`, `id_task`, `email_user_to`,
`filter` with `parent=ID`, `status` active/done). Each change is logged as
Worksection logs it, so it comes back in get_events and, with `webhook`
set, is posted there as a webhook would (`hooks` keeps what was posted;
`settle_hooks()` waits until they are).

OAuth2: `token` works for ever; `grant()` gives a pair as an authorisation
would, whose access token ends 24 hours later on the fake's clock (then
HTTP 200 with an error envelope, `status_code` 401), renewed by POST
`/oauth2/refresh` (`client_id`, `client_secret`, `grant_type=refresh_token`,
`refresh_token`; each refresh token works once, for 30 days).

Tests act as the people in the account: `client_comment`, `staff_comment`,
`set_tags`, `change_deadline`... each returns the item it logged, which is
also what a webhook would post.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
import urllib.request
import zlib
from base64 import b64encode
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

API_KEY = "ws-secret-key"
TOKEN = "oauth-token"
CLIENT_ID, CLIENT_SECRET = "pmdesk-app", "app-secret"
# OAuth2: an access token lasts 24 hours, a refresh token a month (and works once).
ACCESS_LIFETIME, REFRESH_LIFETIME = timedelta(hours=24), timedelta(days=30)
ZONE = "Europe/Paris"
# Worksection's documented limits: the request line, what a text keeps.
MAX_REQUEST_LINE = 8 * 1024
MAX_TEXT = 65_536
MAX_RECORDS = 10_000
# Who a task is for when it is nobody's, or anybody's.
NOBODY = ("NOONE", "ANY")
API_USER = {"id": "1", "email": "api@agency.example", "name": "API"}


@dataclass
class Call:
    action: str
    params: dict[str, str]
    method: str
    # Parameters given more than once (`todo[]`), every value in order.
    lists: dict[str, list[str]] = field(default_factory=dict)
    # How the call arrived: the request line's length, the form body's.
    line_length: int = 0
    body_length: int = 0


@dataclass
class FakeWorksection:
    now: Callable[[], datetime]
    api_key: str = API_KEY
    token: str = TOKEN
    zone: str = ZONE
    min_interval: float = 0.0
    # Records per answer at most (Worksection's 10,000; smaller to test it cheaply).
    max_records: int = MAX_RECORDS
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Project id -> its name and status ("active", "archive").
    projects: dict[str, dict[str, str]] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=dict)
    # Failures to serve before answering normally again: "outage", "500", "envelope".
    failures: list[str] = field(default_factory=list)
    # Tag names the account's tag sets hold; None: any name is taken.
    known_tags: set[str] | None = None
    # Where to post each logged change as a webhook would: (url, user, password).
    webhook: tuple[str, str, str] | None = None
    hooks: list[dict[str, Any]] = field(default_factory=list)
    # Rows of logged time (get_costs), by id; `add_cost`, `edit_cost`, `delete_cost`.
    costs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The rows add_costs created, in order (each also in `costs`).
    added_costs: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Access token -> when it ends (None: never, as `token` by default);
        # refresh token -> when it ends, until it is used.
        self.access_tokens: dict[str, datetime | None] = {self.token: None}
        self.refresh_tokens: dict[str, datetime] = {}
        self.renewals: list[str] = []
        # Project id -> ids of its tasks, so a project's list costs its own size.
        self._by_project: dict[str, dict[str, None]] = {}
        # Project id -> its tags (id -> name), for the projects add_project created.
        self._project_tags: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(9001)
        self._last_call = float("-inf")
        self._server: ThreadingHTTPServer | None = None
        self._hook_threads: list[threading.Thread] = []

    # -- serving ------------------------------------------------------------------

    @contextmanager
    def running(self) -> Iterator[FakeWorksection]:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        self._server = server
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail(self, *modes: str) -> None:
        """Fail the next calls, one per mode: "outage", "500", "envelope", or "lost" (the
        call is made, then the connection drops before its answer)."""
        with self._lock:
            self.failures.extend(modes)

    def actions(self) -> list[str]:
        return [call.action for call in self.calls]

    # -- OAuth2 -------------------------------------------------------------------------

    def grant(self) -> tuple[str, str]:
        """An access token (24 hours from now) and its refresh token, as an authorisation gives."""
        now = self.now()
        with self._lock:
            serial = next(self._ids)
            access, refresh = f"access-{serial}", f"refresh-{serial}"
            self.access_tokens[access] = now + ACCESS_LIFETIME
            self.refresh_tokens[refresh] = now + REFRESH_LIFETIME
        return access, refresh

    def renew(self, body: str) -> tuple[int, dict[str, Any]]:
        """POST /oauth2/refresh: a new pair for a valid refresh token, which is then spent."""
        form = dict(parse_qsl(body, keep_blank_values=True))
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            self.renewals.append("bad client")
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type"}
        with self._lock:
            ends = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
        if ends is None or self.now() >= ends:
            self.renewals.append("refused")
            return 400, {"error": "invalid_grant", "error_description": "Invalid refresh token"}
        access, refresh = self.grant()
        self.renewals.append(access)
        return 200, {
            "token_type": "Bearer",
            "expires_in": int(ACCESS_LIFETIME.total_seconds()),
            "access_token": access,
            "refresh_token": refresh,
        }

    # -- the account ----------------------------------------------------------------

    def add_task(
        self,
        task_id: str,
        name: str,
        project: tuple[str, str] = ("77", "Acme website"),
        tags: list[str] | None = None,
        status: str = "active",
        **fields: Any,
    ) -> dict[str, Any]:
        page = f"/project/{project[0]}/{task_id}/"
        task = {
            "id": task_id,
            "name": name,
            "page": page,
            "status": status,
            "project": {"id": project[0], "name": project[1]},
            "tags": {str(100 + n): tag for n, tag in enumerate(tags or [])},
            **fields,
        }
        with self._lock:
            self.tasks[task_id] = task
            self.projects.setdefault(project[0], {"name": project[1], "status": "active"})
            self._by_project.setdefault(project[0], {})[task_id] = None
        return task

    def add_project(
        self, project_id: str, name: str, tags: list[str] | None = None, by: str = "Sam"
    ) -> dict[str, Any]:
        """A project created in Worksection: listed from now on, and its "project created"
        item logged (and posted to the webhook, when one is set)."""
        added = self._local().strftime("%Y-%m-%d %H:%M")
        tagged = {str(200 + n): tag for n, tag in enumerate(tags or [])}
        with self._lock:
            self.projects[project_id] = {"name": name, "status": "active", "date_added": added}
            self._project_tags[project_id] = tagged
        page = f"/project/{project_id}/"
        return self._logged(
            "post",
            {"type": "project", "id": project_id, "page": page},
            {"id": "1", "email": "sam@agency.example", "name": by},
            new={"name": name, "tags": tagged},
        )

    def add_cost(
        self,
        row_id: str,
        task_id: str,
        time: str,
        day: str,
        user: str = "sam@agency.example",
        money: str = "0.00",
        comment: str = "",
        is_timer: bool = False,
        task: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Time logged on a task of the account (or on `task` as given), as `get_costs` shows it.

        `time` and `day` are kept as given (a malformed time is served as is).
        """
        shown = task if task is not None else self.tasks[task_id]
        row = {
            "id": row_id,
            "comment": comment,
            "time": time,
            "money": money,
            "date": day,
            "is_timer": 1 if is_timer else 0,
            "user_from": {
                "id": str(zlib.crc32(user.encode()) % 1000),
                "email": user,
                "name": self.users.get(user, user.split("@")[0].title()),
            },
            "task": {
                "id": shown["id"],
                "name": shown["name"],
                "page": shown.get("page"),
                "project": dict(shown["project"]),
                "tags": dict(shown.get("tags") or {}),
            },
        }
        with self._lock:
            self.costs[row_id] = row
        return row

    def edit_cost(self, row_id: str, **fields: Any) -> None:
        """A row edited in Worksection: `time`, `date`, `comment`, `money`..."""
        with self._lock:
            self.costs[row_id].update(fields)

    def delete_cost(self, row_id: str) -> None:
        with self._lock:
            del self.costs[row_id]

    def set_tags(self, task_id: str, tags: list[str]) -> None:
        """Tags changed in the interface: no event in the log, no webhook."""
        with self._lock:
            self.tasks[task_id]["tags"] = {str(100 + n): tag for n, tag in enumerate(tags)}

    def comment(
        self,
        task_id: str,
        text: str,
        email: str,
        name: str,
        *,
        hidden: bool = False,
        todo: list[str] | None = None,
    ) -> dict[str, Any]:
        comment_id = str(next(self._ids))
        new: dict[str, Any] = {"text": text}
        if todo:
            # Assumed (not documented): the log shows a comment's checkboxes beside its text.
            new["todo"] = todo
        if hidden:
            new["hidden"] = [email]
        item = self._logged(
            "post",
            {
                "type": "comment",
                "id": int(comment_id),  # Worksection sends numbers or strings
                "page": f"{self.tasks[task_id]['page']}#com{comment_id}",
            },
            {"id": comment_id, "email": email, "name": name},
            new=new,
        )
        with self._lock:
            self.comments.append({"id": comment_id, "task": task_id, "text": text, "email": email})
        return item

    def client_comment(self, task_id: str, text: str, **options: Any) -> dict[str, Any]:
        return self.comment(task_id, text, "claire@acme.example", "Claire Client", **options)

    def staff_comment(self, task_id: str, text: str, **options: Any) -> dict[str, Any]:
        return self.comment(task_id, text, "sam@agency.example", "Sam Staff", **options)

    def change_deadline(self, task_id: str, day: str, by: str = "sam@agency.example") -> dict:
        return self._logged(
            "update",
            {"type": "task", "id": task_id, "page": self.tasks[task_id]["page"]},
            {"id": "5", "email": by, "name": "Sam Staff"},
            new={"date_end": day},
            old={"date_end": ""},
        )

    def close_task(self, task_id: str) -> dict[str, Any]:
        return self._logged(
            "close",
            {"type": "task", "id": task_id, "page": self.tasks[task_id]["page"]},
            {"id": "5", "email": "sam@agency.example", "name": "Sam Staff"},
        )

    def _logged(
        self,
        action: str,
        obj: dict[str, Any],
        user: dict[str, Any],
        new: dict[str, Any] | None = None,
        old: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        local = self.now().astimezone(ZoneInfo(self.zone))
        item: dict[str, Any] = {
            "action": action,
            "object": obj,
            "date_added": local.strftime("%Y-%m-%d %H:%M"),
            "user_from": user,
        }
        if new is not None:
            item["new"] = new
        if old is not None:
            item["old"] = old
        with self._lock:
            self.log.append(item)
        if self.webhook is not None:
            thread = threading.Thread(target=self._post_hook, args=(item,), daemon=True)
            self._hook_threads.append(thread)
            thread.start()
        return json.loads(json.dumps(item))

    def _post_hook(self, item: dict[str, Any]) -> None:
        """Post one logged change to the webhook, as Worksection does (an array of items)."""
        assert self.webhook is not None
        url, user, password = self.webhook
        request = urllib.request.Request(
            url,
            data=json.dumps([item]).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": "Basic " + b64encode(f"{user}:{password}".encode()).decode(),
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                status = answer.status
        except OSError as error:
            status = getattr(error, "code", 0)
        with self._lock:
            self.hooks.append({"item": item, "status": status})

    def settle_hooks(self, timeout: float = 5.0) -> None:
        """Wait until every webhook post started so far has been answered."""
        for thread in list(self._hook_threads):
            thread.join(timeout)

    # -- the API --------------------------------------------------------------------

    def answer(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: str = "",
        line_length: int = 0,
    ) -> Any:
        """The JSON to send, or a failure mode ("outage", "500").

        A POST's form body counts as parameters after the query string's,
        and the admin API's hash covers both: `<query without hash>&<body>`.
        """
        with self._lock:
            failure = self.failures.pop(0) if self.failures else None
            started = time.monotonic()
            too_soon = started - self._last_call < self.min_interval
            self._last_call = started
        pairs = parse_qsl(query, keep_blank_values=True) + parse_qsl(body, keep_blank_values=True)
        params = dict(pairs)
        lists: dict[str, list[str]] = {}
        for key, value in pairs:
            lists.setdefault(key, []).append(value)
        action = params.get("action", "")
        self.calls.append(
            Call(
                action,
                params,
                method,
                {key: values for key, values in lists.items() if len(values) > 1 or "[]" in key},
                line_length,
                len(body.encode()),
            )
        )
        if failure in ("outage", "500"):
            return failure
        if failure == "lost":
            # The call is made, and its answer lost on the way back.
            self._dispatch(action, params, lists, path)
            return "outage"
        if failure == "envelope":
            return _error(500, "Internal error, please try again later")
        if path.rstrip("/") == "/api/oauth2":
            given = headers.get("authorization", "").removeprefix("Bearer ")
            if given not in self.access_tokens:
                self.refused.append("token")
                return _error(401, "Invalid access token")
            ends = self.access_tokens[given]
            if ends is not None and self.now() >= ends:
                self.refused.append("expired")
                return _error(401, "Access token expired")
        else:
            signed, _, given = query.rpartition("&hash=")
            if body:
                signed = f"{signed}&{body}"
            expected = hashlib.md5((signed + self.api_key).encode()).hexdigest()
            if given != expected:
                self.refused.append("hash")
                return _error(3, "Invalid hash")
            params.pop("hash", None)
        if too_soon:
            self.refused.append("rate")
            return _error(429, "Too many requests: the limit is one request per second")
        return self._dispatch(action, params, lists, path)

    def _dispatch(
        self, action: str, params: dict[str, str], lists: dict[str, list[str]], path: str
    ) -> Any:
        if action == "add_costs":
            # The admin API's key acts for no one: it must name the user.
            return self._api_add_costs(params, lists, admin=path.rstrip("/") != "/api/oauth2")
        handler = getattr(self, f"_api_{action}", None)
        if handler is None:
            return _error(2, f"Unknown action {action}")
        if action.startswith(("get_", "search_")):
            return handler(params)
        return handler(params, lists)

    def _api_get_events(self, params: dict[str, str]) -> Any:
        period = params.get("period", "")
        # The documented ranges: whole numbers in 1m..360m, 1h..72h, 1d..30d.
        ranges = {"m": (360, 1), "h": (72, 60), "d": (30, 1440)}
        if len(period) < 2 or period[-1] not in ranges or not period[:-1].isdigit():
            return _error(4, "Invalid period")
        most, unit = ranges[period[-1]]
        if not 1 <= int(period[:-1]) <= most:
            return _error(4, f"Invalid period: 1..{most}{period[-1]}")
        minutes = int(period[:-1]) * unit
        zone = ZoneInfo(self.zone)
        since = (self.now() - timedelta(minutes=minutes)).astimezone(zone)
        floor = since.strftime("%Y-%m-%d %H:%M")
        project = params.get("id_project")
        with self._lock:
            items = [
                item
                for item in self.log
                if item["date_added"] >= floor
                and (project is None or item["object"]["page"].startswith(f"/project/{project}/"))
            ]
        if len(items) > self.max_records:
            # Not documented for get_events: assumed to fail as get_all_tasks does.
            return _error(4, f"Too many events ({self.max_records} max)")
        return _ok(items)

    def _api_get_task(self, params: dict[str, str]) -> Any:
        task = self.tasks.get(params.get("id_task", ""))
        if task is None:
            return _error(4, "Task not found")
        return _ok({key: value for key, value in self._shown(task).items() if key != "tags"})

    def _api_get_all_tasks(self, params: dict[str, str]) -> Any:
        return self._task_list(params, None)

    def _api_get_tasks(self, params: dict[str, str]) -> Any:
        project = params.get("id_project", "")
        if project not in self.projects:
            return _error(4, "Project not found")
        return self._task_list(params, project)

    def _task_list(self, params: dict[str, str], project: str | None) -> Any:
        """Tasks (of one project), `filter=active` the open ones: 10,000 at most."""
        with_tags = "tags" in params.get("extra", "")
        active = params.get("filter") == "active"
        with self._lock:
            ids = self.tasks if project is None else self._by_project.get(project, {})
            chosen = [
                task
                for task in (self.tasks.get(task_id) for task_id in ids)
                if task is not None
                and (project is None or task["project"]["id"] == project)
                and (not active or task["status"] == "active")
            ]
        if len(chosen) > self.max_records:
            return _error(4, f"Too many tasks ({self.max_records} max)")
        return _ok(
            [
                {key: value for key, value in task.items() if with_tags or key != "tags"}
                for task in chosen
            ]
        )

    def _api_get_costs(self, params: dict[str, str]) -> Any:
        """Rows of logged time whose date is in `datestart`..`dateend` (both optional, included)."""
        bounds: list[str | None] = []
        for name in ("datestart", "dateend"):
            if name not in params:
                bounds.append(None)
                continue
            day = _day(params[name])
            if day is None:
                return _error(4, f"Invalid {name}: DD.MM.YYYY")
            bounds.append(day.isoformat())
        start, end = bounds
        project, task = params.get("id_project"), params.get("id_task")
        with self._lock:
            rows = [
                json.loads(json.dumps(row))
                for row in self.costs.values()
                if (start is None or str(row["date"])[:10] >= start)
                and (end is None or str(row["date"])[:10] <= end)
                and (project is None or row["task"]["project"]["id"] == project)
                and (task is None or row["task"]["id"] == task)
            ]
        if len(rows) > self.max_records:
            # Not documented for get_costs: assumed to fail as get_all_tasks does.
            return _error(4, f"Too many costs ({self.max_records} max)")
        return {"status": "ok", "data": rows, "total": {"time": "", "money": ""}}

    def _api_get_projects(self, params: dict[str, str]) -> Any:
        wanted = params.get("filter")
        with self._lock:
            projects = [
                {
                    "id": key,
                    "name": value["name"],
                    "status": value["status"],
                    "page": f"/project/{key}/",
                    **({"date_added": value["date_added"]} if "date_added" in value else {}),
                    **({"tags": self._project_tags[key]} if key in self._project_tags else {}),
                }
                for key, value in self.projects.items()
                if wanted is None or value["status"] == wanted
            ]
        return _ok(projects)

    def _api_post_comment(self, params: dict[str, str], lists: dict[str, list[str]]) -> Any:
        task_id = params.get("id_task", "")
        if task_id not in self.tasks:
            return _error(4, "Task not found")
        todo = lists.get("todo[]", [])
        if not params.get("text") and not todo:
            return _error(4, "Text or todo is required")
        email = params.get("email_user_from", "api@agency.example")
        # As Worksection does with a description: cut, silently, past the limit.
        text = params.get("text", "")[:MAX_TEXT]
        todo = [entry[:MAX_TEXT] for entry in todo]
        item = self.comment(task_id, text, email, self.users.get(email, email), todo=todo)
        with self._lock:
            self.comments[-1]["todo"] = todo
        return _ok({"id": str(item["object"]["id"]), "page": item["object"]["page"]})

    def _api_add_costs(
        self, params: dict[str, str], lists: dict[str, list[str]], admin: bool
    ) -> Any:
        """A row of time on a task: `id_task`; `time` (`0.15`, `0,15` or `0:09`) or `money`;
        `email_user_from` (required with the admin key), `is_rate=1`, `comment`, `date`
        (`DD.MM.YYYY`, today by default). Recorded in `added_costs`, and served by get_costs."""
        refused = _unexpected(lists, _ADD_COSTS) or self._known(params)
        if refused is not None:
            return refused
        time_text, money = params.get("time"), params.get("money")
        if time_text is None and money is None:
            return _error(4, "Field time or money is required")
        minutes = None if time_text is None else _minutes(time_text)
        if time_text is not None and minutes is None:
            return _error(4, f"Invalid time {time_text!r}: 0.15, 0,15 or 0:09 expected")
        if money is not None:
            try:
                float(money.replace(",", "."))
            except ValueError:
                return _error(4, f"Invalid money {money!r}")
        if params.get("is_rate") not in (None, "1"):
            return _error(4, "Invalid is_rate: 1 or nothing")
        email = params.get("email_user_from")
        if email is None and admin:
            return _error(4, "Field email_user_from is required")
        user = API_USER if email is None else self._user(email)
        if user is None or user.get("email") in NOBODY:
            return _error(4, f"User not found: {email}")
        if "date" in params:
            day = _day(params["date"])
            if day is None:
                return _error(4, "Invalid date: DD.MM.YYYY expected")
        else:
            day = self._local().date()
        with self._lock:
            row_id = str(next(self._ids))
        row = self.add_cost(
            row_id,
            params["id_task"],
            f"{(minutes or 0) // 60}:{(minutes or 0) % 60:02d}",
            day.isoformat(),
            user=str(user["email"]),
            money=money or "0.00",
            comment=params.get("comment", ""),
        )
        with self._lock:
            self.added_costs.append(row)
        return {"status": "ok", "id": row_id}

    # -- writing tasks -------------------------------------------------------------

    def _api_post_task(self, params: dict[str, str], lists: dict[str, list[str]]) -> Any:
        refused = _unexpected(lists, _POST_TASK)
        project = params.get("id_project", "")
        if refused is None and project not in self.projects:
            refused = _error(4, "Project not found")
        title = params.get("title", "").strip()
        if refused is None and not title:
            refused = _error(4, "Field title is required")
        parent = params.get("id_parent")
        if refused is None and parent is not None:
            found = self.tasks.get(parent)
            if found is None or found["project"]["id"] != project:
                refused = _error(4, "Parent task not found")
        changes, refused = self._task_fields(params, refused)
        if refused is not None:
            return refused
        author = dict(API_USER)
        if "email_user_from" in params:
            found = self._user(params["email_user_from"])
            if found is None or found.get("email") in NOBODY:
                return _error(4, f"User not found: {params['email_user_from']}")
            author = found
        task_id = str(next(self._ids))
        prefix = self.tasks[parent]["page"] if parent else f"/project/{project}/"
        todo = [entry[:MAX_TEXT] for entry in lists.get("todo[]", [])]
        tags = changes.pop("tags", {})
        task = self.add_task(
            task_id,
            title,
            (project, self.projects[project]["name"]),
            list(tags.values()),
            user_from=author,
            user_to=changes.get("user_to", {"email": "NOONE", "name": "Nobody"}),
            text=params.get("text", "")[:MAX_TEXT],
            todo=todo,
            date_added=self._local().strftime("%Y-%m-%d %H:%M"),
            **{key: value for key, value in changes.items() if key != "user_to"},
        )
        with self._lock:
            task["page"] = f"{prefix}{task_id}/"
            if parent:
                task["parent"] = parent
        new = {"name": title, **changes, **({"tags": list(tags.values())} if tags else {})}
        if todo:
            new["todo"] = todo
        self._logged("post", self._object(task_id), author, new=new)
        return _ok(self._shown(task))

    def _api_update_task(self, params: dict[str, str], lists: dict[str, list[str]]) -> Any:
        refused = _unexpected(lists, _UPDATE_TASK) or self._known(params)
        changes, refused = self._task_fields(params, refused)
        if refused is not None:
            return refused
        task = self.tasks[params["id_task"]]
        if "title" in params:
            if not params["title"].strip():
                return _error(4, "Field title is required")
            changes["name"] = params["title"]
        if "dateclosed" in params and _day(params["dateclosed"]) is None:
            return _error(4, "Invalid date dateclosed: DD.MM.YYYY expected")
        if not changes:
            return _error(4, "Nothing to update")
        start = changes.get("date_start", task.get("date_start"))
        end = changes.get("date_end", task.get("date_end"))
        if start and end and start > end:
            return _error(4, "The start date is after the end date")
        with self._lock:
            old = {key: task.get(key) for key in changes}
            task.update(changes)
        self._logged("update", self._object(task["id"]), dict(API_USER), new=changes, old=old)
        return _ok(self._shown(task))

    def _api_update_task_tags(self, params: dict[str, str], lists: dict[str, list[str]]) -> Any:
        refused = _unexpected(lists, _UPDATE_TAGS) or self._known(params)
        if refused is not None:
            return refused
        plus, minus = _names(params.get("plus", "")), _names(params.get("minus", ""))
        if not plus and not minus:
            return _error(4, "Field plus or minus is required")
        if (unknown := self._unknown_tags(plus + minus)) is not None:
            return unknown
        task = self.tasks[params["id_task"]]
        with self._lock:
            before = list(task["tags"].values())
            after = [tag for tag in before if tag not in minus]
            after += [tag for tag in plus if tag not in after]
            task["tags"] = {str(100 + n): tag for n, tag in enumerate(after)}
        if after != before:
            # Assumed (not documented): a change of tags through the API is logged as an edit.
            self._logged(
                "update",
                self._object(task["id"]),
                dict(API_USER),
                new={"tags": after},
                old={"tags": before},
            )
        return {"status": "ok"}

    def _api_complete_task(self, params: dict[str, str], lists: dict[str, list[str]]) -> Any:
        return self._set_status(params, lists, "done", "close")

    def _api_reopen_task(self, params: dict[str, str], lists: dict[str, list[str]]) -> Any:
        return self._set_status(params, lists, "active", "reopen")

    def _set_status(
        self, params: dict[str, str], lists: dict[str, list[str]], status: str, action: str
    ) -> Any:
        refused = _unexpected(lists, _ID_TASK) or self._known(params)
        if refused is not None:
            return refused
        task = self.tasks[params["id_task"]]
        if task["status"] == status:
            return _error(4, f"Task is already {'closed' if status == 'done' else 'open'}")
        with self._lock:
            task["status"] = status
        self._logged(action, self._object(task["id"]), dict(API_USER))
        return {"status": "ok"}

    def _api_search_tasks(self, params: dict[str, str]) -> Any:
        keys = ("id_project", "id_task", "email_user_from", "email_user_to", "filter")
        if not any(params.get(key) for key in keys):
            return _error(4, "One of id_project, id_task, email_user_from, email_user_to, filter")
        status = params.get("status")
        if status not in (None, "active", "done"):
            return _error(4, "Invalid status: active or done")
        wanted_parent = None
        query = params.get("filter", "").strip()
        if query:
            if not (query.startswith("parent=") and query[7:].strip().isdigit()):
                # Only `parent=ID` is understood here; the real filter language is larger.
                return _error(4, f"Invalid filter {query!r}")
            wanted_parent = query[7:].strip()
        with self._lock:
            found = [
                self._shown(task)
                for task in self.tasks.values()
                if params.get("id_project") in (None, task["project"]["id"])
                and params.get("id_task") in (None, task["id"])
                and params.get("email_user_to") in (None, (task.get("user_to") or {}).get("email"))
                and params.get("email_user_from")
                in (None, (task.get("user_from") or {}).get("email"))
                and (wanted_parent is None or task.get("parent") == wanted_parent)
                and (status is None or task["status"] == status)
            ]
        return _ok(found)

    def children(self, task_id: str) -> list[dict[str, Any]]:
        """The subtasks of a task, in the order they were made."""
        with self._lock:
            return [task for task in self.tasks.values() if task.get("parent") == task_id]

    # -- parts of the writes ----------------------------------------------------------

    def _known(self, params: dict[str, str]) -> dict[str, Any] | None:
        task_id = params.get("id_task", "")
        if not task_id:
            return _error(4, "Field id_task is required")
        if task_id not in self.tasks:
            return _error(4, "Task not found")
        return None

    def _task_fields(
        self, params: dict[str, str], refused: dict[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The task's fields the parameters set, as get_task shows them; or the error."""
        changes: dict[str, Any] = {}
        if refused is not None:
            return changes, refused
        if "email_user_to" in params:
            user = self._user(params["email_user_to"])
            if user is None:
                return changes, _error(4, f"User not found: {params['email_user_to']}")
            changes["user_to"] = user
        for name, key in (("datestart", "date_start"), ("dateend", "date_end")):
            if name in params:
                day = _day(params[name])
                if day is None:
                    return changes, _error(4, f"Invalid date {name}: DD.MM.YYYY expected")
                changes[key] = day.isoformat()
        start, end = changes.get("date_start"), changes.get("date_end")
        if start and end and start > end:
            return changes, _error(4, "The start date is after the end date")
        if "priority" in params:
            value = params["priority"]
            if not (value.isdigit() and 0 <= int(value) <= 10):
                return changes, _error(4, "Invalid priority: 0..10")
            changes["priority"] = value
        if "tags" in params:
            names = _names(params["tags"])
            if (unknown := self._unknown_tags(names)) is not None:
                return changes, unknown
            changes["tags"] = {str(100 + n): tag for n, tag in enumerate(names)}
        return changes, None

    def _unknown_tags(self, names: list[str]) -> dict[str, Any] | None:
        if self.known_tags is None:
            return None
        unknown = [name for name in names if name not in self.known_tags]
        return _error(4, f"Tag not found: {', '.join(unknown)}") if unknown else None

    def _user(self, email: str) -> dict[str, Any] | None:
        """A user of the account by address (`NOONE`, `ANY` as they are); None if unknown."""
        if email in NOBODY:
            return {"email": email, "name": "Nobody" if email == "NOONE" else "Anybody"}
        if "@" not in email or (self.users and email not in self.users):
            return None
        return {
            "id": str(zlib.crc32(email.encode()) % 1000),
            "email": email,
            "name": self.users.get(email, email),
        }

    def _object(self, task_id: str) -> dict[str, Any]:
        return {"type": "task", "id": task_id, "page": self.tasks[task_id]["page"]}

    def _local(self) -> datetime:
        return self.now().astimezone(ZoneInfo(self.zone))

    def _shown(self, task: dict[str, Any]) -> dict[str, Any]:
        """A task as get_task shows it: its parent, and its subtasks nested in `child`."""
        shown = {key: value for key, value in task.items() if key not in ("parent", "todo")}
        parent = self.tasks.get(task.get("parent") or "")
        if parent is not None:
            shown["parent"] = {"id": parent["id"], "name": parent["name"], "page": parent["page"]}
        children = [
            self._shown(child) for child in self.tasks.values() if child.get("parent") == task["id"]
        ]
        if children:
            shown["child"] = children
        return json.loads(json.dumps(shown))


# The parameters each write takes (`action` and `hash` aside): any other is refused.
_POST_TASK = frozenset(
    {
        "id_project",
        "title",
        "id_parent",
        "email_user_from",
        "email_user_to",
        "priority",
        "text",
        "todo[]",
        "datestart",
        "dateend",
        "subscribe",
        "hidden",
        "mention",
        "max_time",
        "max_money",
        "tags",
    }
)
_UPDATE_TASK = frozenset(
    {
        "id_task",
        "email_user_to",
        "priority",
        "title",
        "datestart",
        "dateend",
        "dateclosed",
        "max_time",
        "max_money",
        "tags",
    }
)
_UPDATE_TAGS = frozenset({"id_task", "plus", "minus"})
_ADD_COSTS = frozenset(
    {"id_task", "time", "money", "email_user_from", "is_rate", "comment", "date"}
)
_ID_TASK = frozenset({"id_task"})


def _unexpected(lists: dict[str, list[str]], allowed: frozenset[str]) -> dict[str, Any] | None:
    """An error for a parameter the action does not take, or one given twice (but `todo[]`)."""
    for key, values in lists.items():
        if key in ("action", "hash"):
            continue
        if key not in allowed:
            return _error(4, f"Unknown parameter {key}")
        if len(values) > 1 and not key.endswith("[]"):
            return _error(4, f"Parameter {key} given {len(values)} times")
    return None


def _day(text: str) -> date | None:
    """A `DD.MM.YYYY` date, the only form the API takes; None for anything else."""
    if len(text) != 10 or text[2] != "." or text[5] != ".":
        return None
    try:
        return datetime.strptime(text, "%d.%m.%Y").date()
    except ValueError:
        return None


def _minutes(text: str) -> int | None:
    """`add_costs`' `time` in minutes: hours as `0.15` or `0,15`, or `H:MM`; None if neither."""
    hours, colon, minutes = text.partition(":")
    if colon:
        if not (hours.isdigit() and len(minutes) == 2 and minutes.isdigit()):
            return None
        return int(hours) * 60 + int(minutes) if int(minutes) < 60 else None
    decimal = text.replace(",", ".")
    whole, _, part = decimal.partition(".")
    if not whole.isdigit() or (part and not part.isdigit()):
        return None
    return round(float(decimal) * 60)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _ok(data: Any) -> dict[str, Any]:
    return {"status": "ok", "data": data}


def _error(code: int, message: str) -> dict[str, Any]:
    return {"status": "error", "status_code": code, "message": message}


def _handler(fake: FakeWorksection) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            self._serve("POST", body)

        def _serve(self, method: str, body: str = "") -> None:
            line = len(self.requestline.encode())
            if line > MAX_REQUEST_LINE:
                fake.refused.append("414")
                self._send(414, b"<html>414 Request-URI Too Large</html>", "text/html")
                return
            parts = urlsplit(self.path)
            if parts.path == "/oauth2/refresh" and method == "POST":
                status, payload = fake.renew(body)
                self._send(status, json.dumps(payload).encode(), "application/json")
                return
            headers = {key.lower(): value for key, value in self.headers.items()}
            answer = fake.answer(method, parts.path, parts.query, headers, body, line)
            if answer == "outage":
                # The connection drops without an answer.
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if answer == "500":
                self._send(500, b"<html>Internal Server Error</html>", "text/html")
            else:
                self._send(200, json.dumps(answer).encode(), "application/json")

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
