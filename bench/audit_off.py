"""objmgr with its audit trail silenced, for `python -m bench.journal_metrics --no-audit-lines`.

The same app as `app:create_app()`, the journal and the metrics included, but the
`objmgr.events` logger raised above INFO, so the bench can tell what the journal
and the metrics cost an acquire apart from what its audit line costs.
"""

from __future__ import annotations

import logging

from flask import Flask

import app


def create_app() -> Flask:
    served = app.create_app()
    logging.getLogger("objmgr.events").setLevel(logging.WARNING)
    return served
