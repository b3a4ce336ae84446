"""What a resolver knows about the request it serves."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import graphene
from flask import Request

from ..pool.lease import Caller
from ..service import LeaseService


@dataclass(eq=False)
class RequestContext:
    """One request's context, built by the view and handed to every resolver."""

    request: Request
    #: Who is asking: the principal of the bearer token, or `Caller.auth_off()`.
    caller: Caller
    service: LeaseService
    #: Whether the client still listens; a waiting acquire asks it before each try.
    client_connected: Callable[[], bool]

    @functools.cached_property
    def deadline(self) -> float:
        """When every wait of this request must be over, on the service's clock.

        Fixed when first read, by the request's first acquire: that acquire waits
        at most OBJMGR_MAX_WAIT from its start, and every later wait of the
        request ends by the same time, so aliased waits cannot add up.
        """
        return self.service.request_deadline()


def context_of(info: graphene.ResolveInfo) -> RequestContext:
    """The context of the request a resolver serves."""
    # graphene types `info.context` as anything; the view only ever passes a RequestContext.
    return cast(RequestContext, info.context)
