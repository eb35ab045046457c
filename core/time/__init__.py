"""Time spent on projects: the copy of the time logged in Worksection, and what
counts as account management (docs/time.md). No network here: the connector
(bots.worksection.time) brings the rows, this package reads and keeps them.
"""
