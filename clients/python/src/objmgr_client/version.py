"""The distribution's version; the server pins the client at the same one."""

__version__ = "1.0.0"
