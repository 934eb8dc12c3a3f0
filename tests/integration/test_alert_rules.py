"""The alert rules in deploy/ are valid and fire when they should: Prometheus' own
promtool evaluates them over the series in deploy/prometheus-alerts.test.yml (a core
without a standby, a leader and a standby, every core down)."""

import subprocess
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *arguments], cwd=DEPLOY, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_alert_rules_are_valid() -> None:
    checked = promtool("check", "rules", "prometheus-alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_alert_rules_fire_when_they_should() -> None:
    # Regression: TradeEngineNoStandby (count() of nothing == 0) could never fire, and
    # TradeEngineNoLeader did not with every core down.
    tested = promtool("test", "rules", "prometheus-alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout
