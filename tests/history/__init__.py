"""A history of leases as clients saw them, and a checker of the lease guarantees.

The fault tests record every lease their clients were granted (a `LeaseRecord`)
in a `History`, then ask `History.check` whether the service kept its promises:

- at most one holder per object at any moment (`overlap`);
- a fencing token is granted once per pool (`duplicate-token`);
- tokens only grow: a grant that certainly came after another in real time
  carries a higher token, whatever the object or the client (`token-order`).
  "Certainly after" means the later acquire was sent after the earlier one's
  answer arrived: that orders one client's successive leases, and successive
  holders of an object when the next one asked after the previous one had its
  answer, while two acquires in flight together may be served in either order.
  (Ordering grants by token would make the check true by definition);
- a lease is not forgotten while valid: the server does not refuse its holder's
  free or renew before it expired (`lost-lease`);
- an expired lease is not honoured: no free or renew sent after the expiry
  succeeds (`expired-accepted`);
- a set (acquireObjects) is granted whole, one acquire's leases, consecutive
  when asked to be contiguous (`broken-set`);
- a revoked lease ends at its revocation: its holder's free or renew refused
  afterwards is correct, one accepted is not (`revoked-accepted`), and nothing
  already over is revoked (`ended-lease-revoked`);
- no owner holds more leases of a pool than its maxPerOwner at any instant
  (`over-quota`);
- the queue discipline: a waiter (a set of c objects or any other) certainly
  queued is granted before any request sent after that (`queue-jump`), so a
  big request is never starved by later small ones.

The records are in `records.py` (with how the checker reads the times a client
sees), the checker in `checker.py`, issue 12's checks in `rules.py`.
"""

from __future__ import annotations

from .checker import History, Kind, Violation, merge
from .records import SLACK, End, LeaseRecord, Renewal, Revocation

__all__ = [
    "SLACK",
    "End",
    "History",
    "Kind",
    "LeaseRecord",
    "Renewal",
    "Revocation",
    "Violation",
    "merge",
]
