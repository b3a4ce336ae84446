"""The big waiter's proof that it was queued, for the checker's `queue-jump`.

A client cannot see when the server put its request in the pool's queue. It
can see the pool's `waiting` count, though: read 0 before the request is sent
and at least 1 while it is still unanswered, when no other client of the
workload ever waits (they all ask with `wait` 0, so a busy pool refuses them),
the waiter counted is this request. It was in the queue at some instant before
that read's answer came back, and stays there until its grant (rule R5): from
then on no request sent later may be granted before it, whatever it asks for.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import requests
from objmgr_client.operations import ACQUIRE_MANY

if TYPE_CHECKING:
    from .driver import Client
    from .workload import Answer

WAITING = "query Waiting($name: String!) { pool(name: $name) { waiting } }"
# Polls of the pool's queue while the big request waits: a bound, not a duration.
MAX_POLLS = 200


def _waiting(session: requests.Session, url: str, pool: str, timeout: float) -> int | None:
    """The pool's waiters, None when the service did not answer."""
    try:
        response = session.post(
            f"{url}/graphql",
            json={"query": WAITING, "variables": {"name": pool}},
            timeout=timeout,
        )
        return int(response.json()["data"]["pool"]["waiting"])
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None


def queued_acquire(client: Client, variables: dict[str, Any]) -> tuple[Answer, float | None]:
    """The big acquire's answer, and when it was certainly queued (None: not shown)."""
    workload = client.workload
    url = client.rng.choice(workload.urls)
    observer = client.sessions[url]
    baseline = _waiting(observer, url, workload.pool, workload.http_timeout)
    answers: list[Answer] = []
    session = requests.Session()

    def send() -> None:
        answers.append(client._post("acquire-big", ACQUIRE_MANY, variables, session, url))

    sender = threading.Thread(target=send, name=f"{client.name}-big", daemon=True)
    sender.start()
    t_queued = None
    try:
        for _ in range(MAX_POLLS if baseline == 0 else 0):
            if not sender.is_alive():
                break
            waiting = _waiting(observer, url, workload.pool, workload.http_timeout)
            answered = time.time()
            if waiting and sender.is_alive():
                t_queued = answered
                client.history.count("acquire-big:queued")
                break
            time.sleep(0.005)
        sender.join(timeout=workload.http_timeout + 5)
    finally:
        session.close()
    if not answers:
        client.history.count("unexpected:acquire-big:no-answer")
        raise AssertionError(f"{client.name}: the big acquire never returned")
    return answers[0], t_queued
