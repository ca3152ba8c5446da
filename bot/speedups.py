"""Framework hot spots fixed in place (found with pyinstrument, see docs/performance.md).

botbuilder's ``CloudAdapter`` builds a new ``ConnectorClient`` and a new
``TokenApiClient`` for every incoming activity. Each one's msrest configuration
creates a ``msrest.universal_http.requests.ClientRetryPolicy``, whose constructor
computes the retried status codes as
``[i for i in range(999) if i not in self.safe_codes]`` -- a membership test in a
500-element *list* for each of 999 codes, about half a million comparisons, twice
per turn. On the benchmark machine that was two thirds of the CPU time of a bare
echo turn.

:func:`apply` replaces that constructor with one that sets the very same policy
(same totals, back-off, status list and methods) from a list computed once. It is
idempotent and changes no behaviour; :func:`bot.app.create_app` calls it, so the
bot and the benchmark's echo baseline (built on the same app) both get it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["apply"]

_applied = False


def apply() -> None:
    """Install the faster ``ClientRetryPolicy.__init__`` (once per process)."""
    global _applied
    if _applied:
        return
    from msrest.universal_http import requests as msrest_requests

    policy_class: Any = msrest_requests.ClientRetryPolicy
    safe = frozenset(policy_class.safe_codes)
    retry_codes = tuple(code for code in range(999) if code not in safe)
    retry_class = msrest_requests.Retry

    def __init__(self: Any) -> None:
        self.policy = retry_class()
        self.policy.total = 3
        self.policy.connect = 3
        self.policy.read = 3
        self.policy.backoff_factor = 0.8
        self.policy.BACKOFF_MAX = 90
        self.policy.status_forcelist = list(retry_codes)
        self.policy.method_whitelist = [
            "HEAD",
            "TRACE",
            "GET",
            "PUT",
            "OPTIONS",
            "DELETE",
            "POST",
            "PATCH",
        ]

    policy_class.__init__ = __init__
    _applied = True
