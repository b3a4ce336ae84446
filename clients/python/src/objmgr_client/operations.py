"""objmgr's GraphQL operations, written once.

The client sends these; the server's tests, its benchmarks and the Postman
collection are checked against them, so a change to the schema that breaks a
client breaks a test first. Each document holds one named operation whose
variables all have a default or are required, as the schema allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

LEASE_FIELDS = "pool obj owner label token acquiredAt expiresAt ttl requestId"
POLICY_FIELDS = "defaultTtl maxTtl maxPerOwner reuseDelay reuseFirst description"
POOL_FIELDS = f"name size available inUse waiting cooling policy {{ {POLICY_FIELDS} }}"
EVENT_FIELDS = "seq pool kind at obj token owner label principal reason size expiresAt"

ACQUIRE = f"""\
mutation Acquire($pool: String! = "default", $owner: String, $label: String, $ttl: Float,
                 $wait: Float, $requestId: String, $obj: Int) {{
  acquireObject(pool: $pool, owner: $owner, label: $label, ttl: $ttl, wait: $wait,
                requestId: $requestId, obj: $obj) {{
    success replayed code message lease {{ {LEASE_FIELDS} }}
  }}
}}
"""
ACQUIRE_MANY = f"""\
mutation AcquireMany($count: Int!, $pool: String! = "default", $contiguous: Boolean = false,
                     $owner: String, $label: String, $ttl: Float, $wait: Float,
                     $requestId: String) {{
  acquireObjects(count: $count, pool: $pool, contiguous: $contiguous, owner: $owner,
                 label: $label, ttl: $ttl, wait: $wait, requestId: $requestId) {{
    success replayed code message leases {{ {LEASE_FIELDS} }}
  }}
}}
"""
FREE = """\
mutation Free($obj: Int!, $pool: String! = "default", $token: BigInt) {
  freeObject(obj: $obj, pool: $pool, token: $token) { success obj code message }
}
"""
RENEW = f"""\
mutation Renew($obj: Int!, $token: BigInt!, $pool: String! = "default", $ttl: Float) {{
  renewLease(obj: $obj, token: $token, pool: $pool, ttl: $ttl) {{
    success code message lease {{ {LEASE_FIELDS} }}
  }}
}}
"""
LEASE = f"""\
query Lease($obj: Int!, $pool: String! = "default") {{
  lease(obj: $obj, pool: $pool) {{ {LEASE_FIELDS} }}
}}
"""
LEASES = f"""\
query Leases($name: String! = "default", $first: Int = 100, $after: Int = 0, $owner: String) {{
  pool(name: $name) {{ leases(first: $first, after: $after, owner: $owner) {{ {LEASE_FIELDS} }} }}
}}
"""
OWNER_LEASES = f"""\
query OwnerLeases($owner: String!, $first: Int = 100) {{
  leases(owner: $owner, first: $first) {{ {LEASE_FIELDS} }}
}}
"""
REVOKE = f"""\
mutation Revoke($pool: String!, $owner: String, $labelPrefix: String, $objs: [Int!],
                $reason: String) {{
  revokeLeases(pool: $pool, owner: $owner, labelPrefix: $labelPrefix, objs: $objs,
               reason: $reason) {{
    success code message revoked {{ {LEASE_FIELDS} }}
  }}
}}
"""
POOL = f"""\
query Pool($name: String! = "default") {{ pool(name: $name) {{ {POOL_FIELDS} }} }}
"""
POOLS = f"""\
query Pools($first: Int = 100, $after: String = "") {{
  pools(first: $first, after: $after) {{ {POOL_FIELDS} }}
}}
"""
CREATE_POOL = f"""\
mutation CreatePool($name: String!, $size: Int!, $policy: PoolPolicyInput) {{
  createPool(name: $name, size: $size, policy: $policy) {{
    success code message pool {{ {POOL_FIELDS} }}
  }}
}}
"""
SET_POLICY = f"""\
mutation SetPolicy($name: String!, $policy: PoolPolicyInput!) {{
  setPoolPolicy(name: $name, policy: $policy) {{ success code message pool {{ {POOL_FIELDS} }} }}
}}
"""
RESIZE_POOL = f"""\
mutation ResizePool($name: String!, $size: Int!) {{
  resizePool(name: $name, size: $size) {{ success code message pool {{ {POOL_FIELDS} }} }}
}}
"""
DELETE_POOL = f"""\
mutation DeletePool($name: String!, $force: Boolean = false) {{
  deletePool(name: $name, force: $force) {{ success code message pool {{ {POOL_FIELDS} }} }}
}}
"""
EVENTS = f"""\
query Events($pool: String! = "default", $after: BigInt = 0, $first: Int = 100) {{
  events(pool: $pool, after: $after, first: $first) {{ {EVENT_FIELDS} }}
}}
"""
POOL_EVENTS = f"""\
subscription PoolEvents($pool: String! = "default", $after: BigInt) {{
  poolEvents(pool: $pool, after: $after) {{ {EVENT_FIELDS} }}
}}
"""
VERSION = """\
query Version { version }
"""
# The original service's two calls, kept for its clients.
GET_OBJECT = """\
query GetObject { getObject }
"""
FREE_DEFAULT = """\
mutation FreeDefault($obj: Int!) { freeObject(obj: $obj) { success obj code message } }
"""

OPERATIONS: Mapping[str, str] = MappingProxyType(
    {
        "Acquire": ACQUIRE,
        "AcquireMany": ACQUIRE_MANY,
        "Free": FREE,
        "Renew": RENEW,
        "Lease": LEASE,
        "Leases": LEASES,
        "OwnerLeases": OWNER_LEASES,
        "Revoke": REVOKE,
        "Pool": POOL,
        "Pools": POOLS,
        "CreatePool": CREATE_POOL,
        "SetPolicy": SET_POLICY,
        "ResizePool": RESIZE_POOL,
        "DeletePool": DELETE_POOL,
        "Events": EVENTS,
        "PoolEvents": POOL_EVENTS,
        "Version": VERSION,
        "GetObject": GET_OBJECT,
        "FreeDefault": FREE_DEFAULT,
    }
)
"""Every document above by its operation name."""
