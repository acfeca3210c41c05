"""deploy/systemd: the units pass `systemd-analyze verify` and say what the README promises."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.server
REPO = Path(__file__).parents[1]
UNITS = REPO / "deploy" / "systemd"
INSTALLED = "/opt/ppa-pipeline"  # where the units expect the checkout and its .venv


def units() -> list[Path]:
    return sorted([*UNITS.glob("*.service"), *UNITS.glob("*.timer")])


def settings(unit: Path) -> dict[str, str]:
    out = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def verify(folder: Path, *names: str) -> subprocess.CompletedProcess:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("no systemd-analyze on this machine: `make test-server` installs Debian's systemd package")
    return subprocess.run([tool, "verify", "--man=no", *(str(folder / n) for n in names)], capture_output=True,
                          text=True, timeout=120)


def installed_copy(tmp_path: Path) -> Path:
    """The units as installed with this checkout at /opt/ppa-pipeline (verify checks ExecStart's program)."""
    for unit in units():
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED, str(REPO)))
    return tmp_path


def test_the_units_pass_systemd_analyze_verify(tmp_path):
    folder = installed_copy(tmp_path)
    done = verify(folder, *(u.name for u in units()))
    assert done.returncode == 0 and done.stderr == "", done.stderr
    # and verify does catch a broken unit
    (folder / "broken.service").write_text((folder / "ppa-daemon.service").read_text()
                                           .replace("Restart=on-failure", "Restart=sometimes"))
    assert "Failed to parse service restart specifier" in verify(folder, "broken.service").stderr


def test_the_units_restart_run_as_ppa_and_keep_the_webserver_on_loopback():
    web, daemon = settings(UNITS / "ppa-webserver.service"), settings(UNITS / "ppa-daemon.service")
    for unit in (web, daemon):
        assert unit["Restart"] == "on-failure" and unit["User"] == unit["Group"] == "ppa"
        assert unit["EnvironmentFile"] == "/etc/ppa/ppa.env" and unit["StateDirectory"] == "ppa"
        assert unit["ProtectSystem"] == "strict" and unit["ReadWritePaths"] == "/var/lib/ppa"
        assert unit["ExecStart"].startswith(f"{INSTALLED}/.venv/bin/") and "-m pipeline.definitions" in unit["ExecStart"]
    assert " -h 127.0.0.1 -p 3000 " in web["ExecStart"]
    env = settings(REPO / "deploy" / "ppa.env.example")
    assert all(env[k].startswith("/var/lib/ppa/") for k in ("DAGSTER_HOME", "PPA_RAW_DIR", "PPA_WAREHOUSE_DIR",
                                                             "PPA_ARCHIVE_DIR", "PPA_REPORTS_DIR", "PPA_SECRET_FILE",
                                                             "PPA_ARCHIVE_KEY_FILE"))  # the code's folder is read-only
    assert env["DAGSTER_PG_URL"].startswith("postgresql+psycopg2://")
    backup = settings(UNITS / "ppa-backup.service")
    assert backup["ExecStart"] == f"{INSTALLED}/.venv/bin/ppa backup /var/backups/ppa"
    assert "/var/backups/ppa" in backup["ReadWritePaths"]
