"""The GraphQL operations the tests send, written once."""

from __future__ import annotations

LEASE_FIELDS = "pool obj owner label token acquiredAt expiresAt"
POOL_FIELDS = "name size available inUse waiting"

ACQUIRE = f"""
mutation Acquire($pool: String! = "default", $owner: String, $label: String, $ttl: Float,
                 $wait: Float, $requestId: String) {{
  acquireObject(pool: $pool, owner: $owner, label: $label, ttl: $ttl, wait: $wait,
                requestId: $requestId) {{
    success code message lease {{ {LEASE_FIELDS} }}
  }}
}}
"""
FREE = """
mutation Free($obj: Int!, $pool: String! = "default", $token: BigInt) {
  freeObject(obj: $obj, pool: $pool, token: $token) { success obj code message }
}
"""
RENEW = f"""
mutation Renew($obj: Int!, $token: BigInt!, $pool: String! = "default", $ttl: Float) {{
  renewLease(obj: $obj, token: $token, pool: $pool, ttl: $ttl) {{
    success code message lease {{ {LEASE_FIELDS} }}
  }}
}}
"""
LEASE = f"""
query Lease($obj: Int!, $pool: String! = "default") {{
  lease(obj: $obj, pool: $pool) {{ {LEASE_FIELDS} }}
}}
"""
POOL = f"""
query Pool($name: String! = "default") {{ pool(name: $name) {{ {POOL_FIELDS} }} }}
"""
CREATE_POOL = f"""
mutation Create($name: String!, $size: Int!) {{
  createPool(name: $name, size: $size) {{ success code message pool {{ {POOL_FIELDS} }} }}
}}
"""
RESIZE_POOL = f"""
mutation Resize($name: String!, $size: Int!) {{
  resizePool(name: $name, size: $size) {{ success code message pool {{ {POOL_FIELDS} }} }}
}}
"""
DELETE_POOL = f"""
mutation Delete($name: String!, $force: Boolean) {{
  deletePool(name: $name, force: $force) {{ success code message pool {{ {POOL_FIELDS} }} }}
}}
"""
LEASES = f"""
query Leases($name: String! = "default") {{
  pool(name: $name) {{ leases(first: 1000) {{ {LEASE_FIELDS} }} }}
}}
"""
