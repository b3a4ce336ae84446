"""`/metrics`: Prometheus metrics, exact across every worker of a host.

- The pool gauges and `objmgr_store_up` are read from the store at scrape time
  (`collector.PoolCollector`), so every worker and every host reports the same
  truth, at the cost of one page read per thousand pools.
- The lease counters count the events the store committed (`store.listen`),
  in the process that made each change: a request's worker, or the reaper's.
- Counters and histograms live in prometheus_client's multiprocess mode under
  gunicorn: each worker writes its values to files of its own in a directory
  the master makes before any worker forks (`multiprocess`), and a scrape,
  whichever worker answers it, sums every worker's files, those of dead
  workers included. Counters kept in a shared store instead would be reported
  by every replica at once, and summing replicas is what PromQL does anyway
  (`sum without (instance)`); they would also cost a store write per event.
- An app made without gunicorn (tests, `create_app()` in a shell) counts in a
  registry of its own, so two apps in one process never mix.

Nothing here is imported until `create_app` runs: prometheus_client chooses
between in-process and multiprocess values when it is first imported, which
must come after the master set PROMETHEUS_MULTIPROC_DIR.
"""
