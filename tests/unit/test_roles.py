"""The table of process roles (app/roles.py): each role is listed under its own name,
and a single process (`serve`) loads neither NATS's client nor Alembic: a gateway
loads the former, a database to migrate the latter (their imports were about 0.1 s of
every start, a restart's included)."""

import subprocess
import sys

from trade_engine.app.roles import ROLES

_LOADED_BY_SERVE = """
import sys
import trade_engine.app.server
from trade_engine.app.roles import ROLES
ROLES["serve"]()
print(sorted({name.split(".")[0] for name in sys.modules} & {"nats", "alembic", "mako", "pygments"}))
print(sorted(name for name in sys.modules if name.startswith("trade_engine.cluster")))
"""


def test_each_role_is_listed_under_its_name() -> None:
    assert sorted(ROLES) == ["gateway", "serve"]
    for name, make in ROLES.items():
        assert make().name == name


def test_a_single_process_loads_neither_nats_nor_alembic() -> None:
    command = [sys.executable, "-c", _LOADED_BY_SERVE]
    done = subprocess.run(command, check=True, capture_output=True, text=True, timeout=60)
    assert done.stdout.splitlines() == ["[]", "[]"]
