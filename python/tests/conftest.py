"""Fixtures: a fresh repository in a temporary directory, the `pail` command the wheel
installed, and the S3 test server tests/run starts (moto)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import pail


@pytest.fixture(autouse=True)
def fixed_lineage(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits record the same author and clock from Python and from the CLI."""
    monkeypatch.setenv("PAIL_AUTHOR", "ada")
    monkeypatch.setenv("PAIL_TIME", "2026-01-02T03:04:05Z")
    monkeypatch.delenv("PAIL_DIR", raising=False)


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, made the current one."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def repo(work: Path) -> pail.Repo:
    return pail.Repo.init(work)


def pail_command() -> Path:
    """The `pail` command installed beside this Python (the wheel's script)."""
    return Path(sys.executable).parent / "pail"


def run_pail(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Runs the installed `pail` command."""
    result = subprocess.run(
        [str(pail_command()), *args], cwd=cwd, capture_output=True, text=True
    )
    if check and result.returncode != 0:
        raise AssertionError(f"pail {' '.join(args)} failed: {result.stderr}")
    return result


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> str:
    """The moto S3 server tests/run starts: its bucket URL, with the environment set.
    Outside tests/run the test is skipped, but in CI (CI=true) that is a failure."""
    endpoint = os.environ.get("PAIL_TEST_S3_ENDPOINT")
    if not endpoint:
        if os.environ.get("CI"):
            pytest.fail("PAIL_TEST_S3_ENDPOINT is not set: run the suite through tests/run")
        pytest.skip("PAIL_TEST_S3_ENDPOINT is not set (tests/run sets it)")
    for key, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    return f"s3://{os.environ.get('PAIL_TEST_S3_BUCKET', 'pail-test')}"
