"""Authentication (JWT bearer tokens) and the roles that authorize.

Only the configured algorithm is accepted, so `alg: none` and algorithm confusion (an
HS256 token signed with an RS256 public key) are refused. `exp` and `sub` are required;
issuer and audience are checked when configured. `sub` is the user id; the `roles`
claim (a list, or `role`, a string) holds `trader` and/or `admin`, and a token that
names no role is a trader's. Verified tokens are cached until they expire, so
a client's repeated requests do not pay for signature checks.
"""

import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

import jwt

from trade_engine.config import Config
from trade_engine.domain import identifiers
from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.domain.vocabulary import FEE_ACCOUNT

TRADER: Final = "trader"
ADMIN: Final = "admin"
ROLES: Final = frozenset({TRADER, ADMIN})
USER_ID: Final = re.compile(identifiers.USER_ID)  # fullmatch
_CACHE_SIZE: Final = 10_000


@dataclass(frozen=True)
class Principal:
    user_id: str
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles


class Authenticator:
    def __init__(self, config: Config) -> None:
        auth = config.auth
        self._key = config.verification_key()
        self._algorithm = auth.algorithm
        self._issuer = auth.issuer
        self._audience = auth.audience
        self._leeway = auth.leeway_seconds
        self._cache: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise TradeEngineError(ErrorCode.UNAUTHENTICATED, "a bearer token is required")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TradeEngineError(
                ErrorCode.INVALID_TOKEN, "the Authorization header must be 'Bearer <token>'"
            )
        token = token.strip()
        now = time.time()
        cached = self._cache.get(token)
        if cached is not None:
            principal, expires = cached
            if now < expires + self._leeway:
                return principal
            del self._cache[token]
        claims = self._decode(token)
        principal = _principal(claims)
        self._cache[token] = (principal, float(claims["exp"]))
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return principal

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError as error:
            raise TradeEngineError(ErrorCode.TOKEN_EXPIRED, "the token has expired") from error
        except jwt.InvalidAudienceError as error:
            raise TradeEngineError(ErrorCode.INVALID_TOKEN, "the token is for another audience") from error
        except jwt.InvalidIssuerError as error:
            raise TradeEngineError(ErrorCode.INVALID_TOKEN, "the token comes from another issuer") from error
        except jwt.InvalidAlgorithmError as error:
            raise TradeEngineError(
                ErrorCode.INVALID_TOKEN, f"only {self._algorithm} tokens are accepted"
            ) from error
        except jwt.InvalidSignatureError as error:
            raise TradeEngineError(ErrorCode.INVALID_TOKEN, "the token signature is not valid") from error
        except jwt.MissingRequiredClaimError as error:
            raise TradeEngineError(
                ErrorCode.INVALID_TOKEN, f"the token lacks the {error.claim!r} claim"
            ) from error
        except jwt.DecodeError as error:
            raise TradeEngineError(ErrorCode.INVALID_TOKEN, "the token is malformed") from error
        except jwt.InvalidTokenError as error:
            raise TradeEngineError(ErrorCode.INVALID_TOKEN, f"the token is not valid: {error}") from error
        return claims


def _principal(claims: dict[str, Any]) -> Principal:
    user_id = claims.get("sub")
    if not isinstance(user_id, str) or USER_ID.fullmatch(user_id) is None or user_id == FEE_ACCOUNT:
        raise TradeEngineError(ErrorCode.INVALID_TOKEN, "the token's subject is not a valid user id")
    raw = claims.get("roles", claims.get("role", [TRADER]))
    names = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    # Only names count: anything else in the claim (a list, an object) refuses the token.
    roles = frozenset(names) if all(isinstance(name, str) for name in names) else frozenset()
    if not roles or not roles <= ROLES:
        raise TradeEngineError(ErrorCode.INVALID_TOKEN, f"the token's roles must be among {sorted(ROLES)}")
    return Principal(user_id, roles)


def mint_token(config: Config, user_id: str, roles: list[str], ttl_seconds: int = 3600) -> str:
    """A token signed with the configured secret (development and tests; HS* only)."""
    auth = config.auth
    if not auth.algorithm.startswith("HS") or auth.secret is None:
        raise ValueError("tokens can only be minted with a configured HS* secret")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "roles": roles, "iat": now, "exp": now + ttl_seconds}
    if auth.issuer:
        claims["iss"] = auth.issuer
    if auth.audience:
        claims["aud"] = auth.audience
    return jwt.encode(claims, auth.secret, algorithm=auth.algorithm)
