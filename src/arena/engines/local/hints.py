"""What would let a waiting job start, from the scheduler's one-line reason (for `arena get`).

The reason names the binding constraint with its numbers (scheduler/reasons.py); the hint turns
it into the condition and the action that would lift it.
"""
from __future__ import annotations

import re

_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^gang needs (\S+) (\S+), queue (\S+) capability (\S+)"),
     "never within queue {2}'s capability ({3} {1}): raise it with 'arena queue update {2} --capability {1}=...'"
     " or request less"),
    (re.compile(r"^gang needs (\S+) (\S+), node has (\S+)"),
     "never on this machine ({2} {1} in all): request less, or declare more capacity"),
    (re.compile(r"^gang needs (\S+) (\S+), (\S+) free"),
     "starts when {0} {1} are free at once (now {2}): when running jobs finish, or sooner with a higher --priority"),
    (re.compile(r"^queue (\S+) capability (\S+) (\S+)/(\S+)"),
     "starts when queue {0} has room under its capability ({2}/{3} {1} in use): when its jobs finish, or "
     "raise it with 'arena queue update {0} --capability {1}=...'"),
    (re.compile(r"^queue (\S+) closed"), "starts once the queue is open: 'arena queue open {0}'"),
    (re.compile(r"^queue (\S+) closing"), "queue {0} is draining; 'arena queue open {0}' lets it start"),
    (re.compile(r"^queue (\S+) not found"), "the queue was deleted: create it again with 'arena queue create {0}'"),
]


def hint(reason: str) -> str:
    for pattern, text in _RULES:
        m = pattern.match(reason)
        if m:
            return text.format(*m.groups())
    return ""
