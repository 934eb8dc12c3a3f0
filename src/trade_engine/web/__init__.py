"""The web page the service serves itself: a trading view and an operator view.

Everything it loads is in `static/` and ships inside the package (the charting and API
docs libraries are vendored under `static/vendor/`, see the README there): nothing
comes from another host, and nothing is built at run or test time. The page uses the
public APIs only (`/api/v1`, `/ws`). This package serves the files (`pages.py`) and
sets the security headers on every response (`security.py`); it holds no trading logic.
"""
