"""objmgr's benchmarks, run as modules from the checkout's root: `python -m bench.<name>`."""
