"""The domain core: pools, objects, leases and their rules. No I/O, no web."""
