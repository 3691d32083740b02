"""Sampling: candidates, costs, the budgeted planner and the pass-rate estimators. Pure domain code: no I/O.

The CLI, the API, the planner pages and the round simulation all plan through `plan_from_scores` and
estimate through `estimation.estimate`; nothing here knows about files, databases, HTTP or models.
"""
