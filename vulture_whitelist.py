"""Names vulture (``make deadcode``) reports that are used, by a framework or a protocol.

Each entry says who uses it. Code that is truly unused is removed, never listed here.
"""

# ruff: noqa: B018, F821
# mypy: ignore-errors

# Signatures a caller fixes (context managers' __exit__, signal handlers, adapters).
exc_type, exc, traceback, frame, signum, kwargs

# http.server / socketserver hooks and class settings (the test, demo and bench servers).
daemon_threads, request_queue_size, protocol_version, disable_nagle_algorithm
_.do_GET, _.do_HEAD, _.do_POST, _.do_PUT, _.do_DELETE, _.do_OPTIONS, _.log_message
_.close_connection
_.send  # requests' HTTPAdapter.send (tests/test_hostile_input.py)
_.row_factory  # sqlite3.Connection (tests/test_feedback_store.py)
_.trust_env  # requests.Session: no proxy or .netrc from the environment (prefetch.py)
_.sort_keys  # Flask's JSON provider (app.py)

# gunicorn: settings read from gunicorn.conf.py; hooks it calls (cds_service.gunicorn_hooks).
worker_class, graceful_timeout, limit_request_line, limit_request_field_size
limit_request_fields, worker_tmp_dir, accesslog, preload_app
on_starting, child_exit

# pydantic and pydantic-settings (cds_service.settings, cds_service.wire).
model_config, _.settings_customise_sources, env_settings, dotenv_settings
file_secret_settings, _._load_env_vars

# SQLAlchemy pool event listener (cds_service.sql).
checkout

# pytest.
pytestmark, pytest_terminal_summary

# CDS Hooks 2.0 wire fields, validated on input or sent on output (cds_service.wire).
token_type, expires_in, userId, encounterId, icon, isRecommended, appContext
selectionBehavior, overrideReasons, HookContext, OVERRIDDEN

# Members of closed value sets: read by value (IhcScore("0")).
ZERO

# The named source of a code list, cited by the list's docstring (fhir_mappings.terminology).
NYHA_SNOMED_SOURCE, BRAND_SOURCE, CYP3A_SOURCE

# pydantic's JSON-schema generator hooks, overridden (cds_service.openapi).
_.nullable_schema, _.default_schema, _.field_title_should_be_set

# A pydantic model validator (cds_service.settings.SmartSettings: CDS_SMART_LAUNCH_URL=off).
_._off

# Flask: a URL converter's pattern, a blueprint's after-request hook and route
# (cds_service.smart.views).
_.regex, _headers, app_index

# Wire fields sent on output (cds_service.wire: DataIssueEntry, ResponseExtension).
resourceType, data_quality
