"""Real processes for the tests and the benchmarks: free loopback ports, gunicorn servers,
redis-servers, processes stopped by their pid, sockets left waiting, and bulk lease fills.

Nothing here is a test; the benchmarks import it as the package `tests.support` from the
checkout's root (`python -m bench.<name>`).
"""
