"""Every test runs against temporary folders: never the real data/ or instance."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

TEST_ARCHIVE_KEY = "test-archive-key-never-used-outside-the-tests"
PROJECT_DATA = Path(__file__).parents[1] / "data"


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="session", autouse=True)
def project_data_untouched():
    """No test writes into the project's data/ folder (the sample an installation runs on): code
    that captured the default folders at import would otherwise do so unseen."""
    before = _listing(PROJECT_DATA)
    yield
    after = _listing(PROJECT_DATA)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"tests changed the project's data/ folder: {changed[:10]}"


@pytest.fixture(scope="session", autouse=True)
def archive_key(tmp_path_factory: pytest.TempPathFactory):
    """Every test (and every process it starts) encrypts the archive with a test key, never
    creating or reading a key file in the project: the key file points at the same key, for a
    process that is started without PPA_ARCHIVE_KEY."""
    key_file = tmp_path_factory.mktemp("keys") / "archive_key"
    key_file.write_text(TEST_ARCHIVE_KEY, encoding="utf-8")
    key_file.chmod(0o600)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PPA_ARCHIVE_KEY", TEST_ARCHIVE_KEY)
        mp.setenv("PPA_ARCHIVE_KEY_FILE", str(key_file))
        yield TEST_ARCHIVE_KEY


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    paths = {
        "raw": tmp_path / "raw",
        "warehouse": tmp_path / "warehouse",
        "reports": tmp_path / "reports",
        "archive": tmp_path / "archive",
        "releases": tmp_path / "releases",
        "dagster_home": tmp_path / "dagster_home",
    }
    for p in paths.values():
        p.mkdir()
    # the project's own instance config, so tests store events as users' runs do
    shutil.copy(Path(__file__).parents[1] / "dagster_home" / "dagster.yaml", paths["dagster_home"])
    monkeypatch.setenv("PPA_RAW_DIR", str(paths["raw"]))
    monkeypatch.setenv("PPA_WAREHOUSE_DIR", str(paths["warehouse"]))
    monkeypatch.setenv("PPA_REPORTS_DIR", str(paths["reports"]))
    monkeypatch.setenv("PPA_ARCHIVE_DIR", str(paths["archive"]))
    monkeypatch.setenv("PPA_RELEASES_DIR", str(paths["releases"]))
    monkeypatch.setenv("DAGSTER_HOME", str(paths["dagster_home"]))
    monkeypatch.setenv("PPA_HASH_SECRET", "test-secret-for-the-keyed-hashes-only")
    monkeypatch.delenv("PPA_REGISTRY", raising=False)
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)  # pipeline/automation/event_log.py sets it
    return paths


# Tests that share one whole-pipeline run per module (a module fixture that runs the pipeline
# once or twice): slow, so that `make test-fast` stays under a minute. Their other tests stay fast.
PIPELINE_FIXTURES = {"test_report.py": {"analytics", "report_html"}, "test_feedback.py": {"world"},
                     "test_recap_marts.py": {"run", "warehouse"}}


@pytest.hookimpl(tryfirst=True)  # before -m "not slow" deselects
def pytest_collection_modifyitems(config, items):
    for item in items:
        names = PIPELINE_FIXTURES.get(item.path.name)
        if names and names & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
