"""The newest revision, as the service's start reads it without Alembic (from the
scripts' file names), is Alembic's own head; every script's name begins with its
revision, and the chain has one line."""

from pathlib import Path

from alembic.script import ScriptDirectory

from trade_engine.storage.migrate import alembic_config, head_revision


def test_the_head_read_from_the_file_names_is_alembics_head() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    assert scripts.get_heads() == [head_revision()]


def test_every_script_is_named_after_its_revision() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    for script in scripts.walk_revisions():
        assert script.path is not None
        assert Path(script.path).name.split("_", 1)[0] == script.revision
