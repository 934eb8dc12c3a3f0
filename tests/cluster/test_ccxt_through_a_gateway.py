"""The ccxt tests (tests/e2e/binance/test_ccxt.py), unchanged, through a gateway of a
cluster: the same scenarios and the same assertions, with the core in other processes."""

import pytest

from tests.e2e.binance.conftest import Binance
from tests.e2e.binance.test_ccxt import *  # noqa: F403 - the very same tests, collected here
from tests.e2e.client import Api


@pytest.fixture(scope="module")
def binance(gateway_apis: tuple[Api, Api]) -> Binance:
    return Binance(gateway_apis[1])
