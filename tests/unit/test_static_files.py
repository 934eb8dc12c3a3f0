"""The page's files (web/pages.py): only a listed file's own spelling names it, so no
request can make the cache grow or reach the disk with a path the server never lists."""

from pathlib import Path

import pytest

from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.web.pages import StaticFiles


@pytest.fixture
def files(tmp_path: Path) -> StaticFiles:
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "main.js").write_text("main();")
    (tmp_path / "index.html").write_text("<html></html>")
    (tmp_path.parent / "secret.txt").write_text("not served")
    return StaticFiles(tmp_path)


def test_a_listed_file_is_served_with_its_type_and_revalidated(files: StaticFiles) -> None:
    first = files.response("js/main.js", None)
    assert (first.status, first.body) == (200, b"main();")
    etag = dict(first.headers)["ETag"]
    assert files.response("js/main.js", etag).status == 304


@pytest.mark.parametrize(
    "spelling",
    [
        "js//main.js",
        "./js/main.js",
        "js/./main.js",
        "js/main.js/",
        "js/../js/main.js",
        "../secret.txt",
        "js",
        "a\x00b",
        "x" * 300,
        "/".join(["y" * 200] * 30),
    ],
)
def test_any_other_spelling_is_not_found(files: StaticFiles, spelling: str) -> None:
    with pytest.raises(TradeEngineError) as refused:
        files.response(spelling, None)
    assert refused.value.code is ErrorCode.NOT_FOUND


def test_the_cache_holds_one_entry_per_file_whatever_is_asked(files: StaticFiles) -> None:
    files.response("js/main.js", None)
    for slashes in range(2, 50):
        with pytest.raises(TradeEngineError):
            files.response("js" + "/" * slashes + "main.js", None)
    assert len(files._files) == 1
