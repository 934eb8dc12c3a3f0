"""A graceful stop that overruns its budget says what it waits for, then exits."""

import asyncio
import subprocess
import sys
import textwrap

from trade_engine.app.stop_deadline import EXIT_OVERRAN, waiting_tasks


async def _never_answered(event: asyncio.Event) -> None:
    await event.wait()


def test_the_waiting_tasks_name_where_each_one_waits() -> None:
    async def look() -> list[str]:
        stuck = asyncio.create_task(_never_answered(asyncio.Event()), name="hand-over")
        await asyncio.sleep(0)
        try:
            return waiting_tasks()
        finally:
            stuck.cancel()

    described = asyncio.run(look())
    (line,) = [text for text in described if text.startswith("hand-over:")]
    assert "_never_answered (test_stop_deadline.py:" in line


def test_a_stop_past_its_budget_logs_the_waits_and_exits_70() -> None:
    program = textwrap.dedent(
        """
        import asyncio
        from trade_engine.app import stop_deadline
        from trade_engine.observability.logging import configure_logging

        async def main() -> None:
            stop = asyncio.Event()
            asyncio.create_task(stop_deadline.enforce(stop, 0.2))
            stop.set()
            await asyncio.Event().wait()  # a stop that never finishes

        configure_logging("INFO")
        asyncio.run(main())
        """
    )
    command = [sys.executable, "-c", program]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == EXIT_OVERRAN == 70
    output = done.stdout + done.stderr
    assert "overran http.shutdown_timeout_seconds" in output
    assert "main (<string>:" in output
