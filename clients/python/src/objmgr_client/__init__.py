"""The Python client of objmgr."""
