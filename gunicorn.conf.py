"""gunicorn settings for the production entry (Dockerfile; behind nginx, deploy/nginx.conf).

``WEB_CONCURRENCY`` worker processes (default 4) x ``GUNICORN_THREADS`` threads each
(default 4) serve at most WEB_CONCURRENCY x GUNICORN_THREADS calls at once; about 2
workers per core, and more threads when calls wait on the FHIR server.

Timeouts. A gthread worker's ``timeout`` is a heartbeat of its main loop, which keeps
beating while a request thread is stuck: gunicorn never times out a request. So every
wait inside a call has its own bound: the FHIR server (CDS_FHIR_TIMEOUT_S per request,
CDS_FHIR_DEADLINE_S per call) and the stores (CDS_STORE_CONNECT_TIMEOUT_S plus
CDS_STORE_STATEMENT_TIMEOUT_S per operation); nginx's proxy_read_timeout (15 s) is set
above their sum. Slow clients are nginx's to hold: it passes on only complete requests.
"""

import os

# Prometheus multiprocess mode: one /metrics for every worker (cds_service.metrics). The
# directory is prepared here, when gunicorn reads this file: with preload_app the app, and
# prometheus_client with it, is imported before gunicorn's on_starting hook runs.
from cds_service.gunicorn_hooks import child_exit, prepare_multiprocess_dir  # noqa: F401
from cds_service.settings import GunicornSettings

prepare_multiprocess_dir()

_declared = GunicornSettings.read(os.environ)  # README, Configuration
bind = f"0.0.0.0:{os.environ.get('PORT', '8080')}"
workers = _declared.web_concurrency
threads = _declared.gunicorn_threads
worker_class = "gthread"
timeout = 30  # a worker whose main loop is stuck this long is killed and replaced
graceful_timeout = 20  # on SIGTERM, calls in flight get this long to finish
keepalive = 5  # idle keep-alive connections from nginx (its upstream keepalive_timeout: 4 s)
# At or above nginx's limits (header lines 16 KB, request line 8 KB: deploy/nginx.conf),
# so that nginx, which answers with an OperationOutcome, is the one to refuse them.
limit_request_line = 8190  # gunicorn's maximum
limit_request_field_size = 16384
limit_request_fields = 100
# The heartbeat file on a memory file system: a slow disk never looks like a stuck worker.
_SHM = "/dev/shm"  # noqa: S108 (gunicorn makes its file there with mkstemp)
worker_tmp_dir = _SHM if os.path.isdir(_SHM) else None
accesslog = None  # the app writes its own structured access record, without payloads
# The app is imported once, in the master, and the workers are forked from it: a cold
# start imports once instead of once per worker on shared cores (README, Performance).
# Fork safety: nothing opens a connection or starts a thread at import; the SQL stores
# (engine pool, watchdog thread, issued-cards writer thread) notice a new process id and
# start their own; the prefetch and JWKS HTTP sessions and the prefetch thread pool are
# first used in a worker; redis-py pools reconnect after a fork; prometheus_client writes
# per-process files (the directory is set above, before its import).
preload_app = True
