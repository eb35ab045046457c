"""Work in the tracker: changes the assistant makes to tasks from pmdesk.

Reschedule a deadline, add checklist items, create a subtask, change the
owner, close or reopen, add or remove tags (core.tracker.actions). Each is
an event of the person who made it and a delivery to Worksection written in
the same transaction; the services send it (bots.worksection.actions) and
recognise its echo (core.tracker.echoes). See docs/worksection.md.
"""
