"""The shipped deployment files: deploy/compose.yaml, deploy/nginx.conf, deploy/errors.

The topology test runs nginx.conf for real; these check what it cannot: the
compose file's shape, that its settings are the service's own, that every error
page nginx names exists and is an OperationOutcome, and that nginx accepts the
configuration (when nginx is installed).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.processes import Nginx, nginx_executable

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SETTINGS_SOURCE = ROOT / "cds_service" / "settings.py"


def compose() -> dict[str, object]:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_compose_runs_nginx_replicas_postgres_and_redis_after_a_migration() -> None:
    services = compose()["services"]
    assert isinstance(services, dict)
    assert {"nginx", "cds", "migrate", "postgres", "redis"} <= set(services)
    cds = services["cds"]
    assert cds["deploy"]["replicas"]
    assert cds["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["python", "-m", "cds_service", "migrate"]
    assert services["nginx"]["build"]["dockerfile"] == "nginx.Dockerfile"
    assert (DEPLOY / services["nginx"]["build"]["dockerfile"]).is_file()
    environment = cds["environment"]
    assert environment["CDS_STORE_AUTO_MIGRATE"] == "false"  # the migrate service does it
    assert environment["CDS_REPLAY_STORE_URL"].startswith("redis://redis:")
    assert environment["CDS_FEEDBACK_DATABASE_URL"].startswith("postgresql://")


def test_compose_sets_only_settings_the_service_reads() -> None:
    read = set(re.findall(r'"(CDS_[A-Z0-9_]+)"', SETTINGS_SOURCE.read_text(encoding="utf-8")))
    services = compose()["services"]
    assert isinstance(services, dict)
    named = {name for name in services["cds"]["environment"] if name.startswith("CDS_")}
    assert named
    assert named <= read


def test_the_nginx_upstream_is_the_compose_service() -> None:
    config = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    assert re.search(r"server cds:8080\b", config)
    dockerfile = (DEPLOY / "nginx.Dockerfile").read_text(encoding="utf-8")
    assert "apt-get install" in dockerfile  # Debian's package
    assert "/usr/share/cds-nginx/errors/" in dockerfile
    assert "alias /usr/share/cds-nginx/errors/;" in config


def test_every_error_page_exists_and_is_an_operation_outcome() -> None:
    config = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    pages = re.findall(r"error_page (\d+) (?:=(\d+) )?/cds-errors/(\d+)\.json;", config)
    statuses = {int(shown or status) for status, shown, _ in pages}
    assert {400, 408, 413, 414, 431, 502, 504} <= statuses
    for _, _, name in pages:
        body = json.loads((DEPLOY / "errors" / f"{name}.json").read_text(encoding="utf-8"))
        assert body["resourceType"] == "OperationOutcome"
        (issue,) = body["issue"]
        assert issue["severity"] == "error"
        assert issue["code"]
        assert issue["diagnostics"]


def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    executable = nginx_executable()
    if executable is None:
        pytest.skip("nginx is not installed (Debian package nginx; .ci/run installs it)")
    server = Nginx(executable, tmp_path, [1])  # starts it: the configuration loaded
    try:
        checked = subprocess.run(
            [executable, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr
    finally:
        server.stop()
