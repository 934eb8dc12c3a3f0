"""The ccxt tests (tests/e2e/binance/test_ccxt.py), unchanged, through each gateway of a
cluster: the same scenarios and the same assertions, with the core in other processes."""

import pytest

from tests.e2e.binance.conftest import Binance
from tests.e2e.binance.test_ccxt import *  # noqa: F403 - the very same tests, collected here
from tests.e2e.client import Api


@pytest.fixture(scope="module", params=[0, 1], ids=["gateway-a", "gateway-b"])
def binance(request: pytest.FixtureRequest, gateway_apis: tuple[Api, Api]) -> Binance:
    return Binance(gateway_apis[request.param])
