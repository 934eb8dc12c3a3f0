"""Which modules `make compiled` builds with mypyc: the Makefile's CORE_MODULES, read
from the Makefile itself so that the checks can never list other modules than the
build does."""

import re
from pathlib import Path

MAKEFILE = Path(__file__).resolve().parents[1] / "Makefile"


def compiled_core_modules() -> list[str]:
    """Dotted names of the CORE_MODULES, e.g. `trade_engine.engine.matching`."""
    text = MAKEFILE.read_text().replace("\\\n", " ")
    found = re.search(r"^CORE_MODULES :=(.*)$", text, re.MULTILINE)
    if found is None:
        raise LookupError(f"no CORE_MODULES in {MAKEFILE}")
    return ["trade_engine." + path.removesuffix(".py").replace("/", ".") for path in found.group(1).split()]
