"""The test harness's servers: each gets a port of its own, runs on the environment it
was started with whatever its own directory, and says which engine build it runs (the
benchmarks report that, not their own)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.server import Server, free_port
from trade_engine.app.process import core_build


def test_no_port_is_handed_out_twice() -> None:
    ports = [free_port() for _ in range(1_000)]
    assert len(set(ports)) == len(ports)


def test_a_relative_pythonpath_names_the_same_directory_in_a_servers_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As `PYTHONPATH=build/compiled` from the repository: a module only that entry holds.
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "harness_probe.py").write_text("")
    (tmp_path / "server").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(("lib", "")))  # "": the current directory
    server = Server(f"sqlite:///{tmp_path}/server/te.db", tmp_path / "server")
    found = subprocess.run(
        [sys.executable, "-c", "import harness_probe; print(harness_probe.__file__)"],
        env=server.env,
        cwd=server.workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == str(tmp_path / "lib" / "harness_probe.py")
    assert server.env["PYTHONPATH"] == os.pathsep.join((str(tmp_path / "lib"), str(tmp_path)))


def test_a_server_says_which_engine_build_it_runs(shared_server: Server) -> None:
    # The same build as this process's: the suite passes its path on unchanged.
    assert shared_server.core_build() == core_build()
    assert core_build() in ("interpreted", "compiled (mypyc)")
