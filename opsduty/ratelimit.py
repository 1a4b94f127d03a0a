"""Abuse limits (docs/security.md): per-key fixed windows counted in Redis with `limits`.

Each bucket has a rate in `settings.OPSDUTY_RATE_LIMITS` (env `OPSDUTY_RATE_<BUCKET>`, in the
`limits` notation: "120/minute", "20/hour"; "off" disables it). A request is counted against
its own key: a heartbeat's check-in key, a calendar feed's token, a user, the client's IP.
So a flood on one organization's endpoint uses only that endpoint's budget.

A refused request costs one Redis round trip (the counter increment, a Lua script) and one
more for the window's reset time, which becomes `Retry-After`; it never touches PostgreSQL.
The keys are secrets (check-in keys, feed tokens), so Redis only ever sees their SHA-256.
When Redis is down, requests are let through (and a warning logged): refusing every
check-in and sign-in would be worse than an unlimited minute.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable, Collection
from functools import cache, wraps
from ipaddress import ip_address
from typing import Any, TypeVar

import redis.asyncio
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage as AsyncRedisStorage
from limits.aio.strategies import FixedWindowRateLimiter as AsyncFixedWindowRateLimiter
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter
from redis import RedisError

logger = logging.getLogger(__name__)

KEY_PREFIX = "opsduty:rl"
DISABLED = frozenset({"", "0", "off", "none"})

View = TypeVar("View", bound=Callable[..., Any])


@cache
def _item(rate: str) -> RateLimitItem | None:
    return None if rate.strip().lower() in DISABLED else parse(rate)


def rate_item(bucket: str) -> RateLimitItem | None:
    """The configured limit of `bucket` (None: not limited)."""
    return _item(settings.OPSDUTY_RATE_LIMITS[bucket])


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@cache
def _limiter(url: str) -> FixedWindowRateLimiter:
    storage = RedisStorage(url, key_prefix=KEY_PREFIX, socket_timeout=1.0, wrap_exceptions=True)
    return FixedWindowRateLimiter(storage)


_async: tuple[asyncio.AbstractEventLoop, redis.asyncio.ConnectionPool, Any] | None = None


def _async_limiter(url: str) -> AsyncFixedWindowRateLimiter:
    # A redis.asyncio connection belongs to the event loop that opened it: one per process
    # and loop, as the receiver's (signals/receiver/ingest_async.py).
    global _async  # noqa: PLW0603
    loop = asyncio.get_running_loop()
    if _async is None or _async[0] is not loop:
        pool = redis.asyncio.ConnectionPool.from_url(url, socket_timeout=1.0)
        # `limits` types its extra options as scalars, but hands them to redis-py, which
        # takes a connection pool: ours, so that it can be closed with its event loop.
        options: dict[str, Any] = {"connection_pool": pool}
        storage = AsyncRedisStorage(
            "async+" + url,
            implementation="redispy",
            key_prefix=KEY_PREFIX,
            wrap_exceptions=True,
            **options,
        )
        _async = (loop, pool, AsyncFixedWindowRateLimiter(storage))
    limiter: AsyncFixedWindowRateLimiter = _async[2]
    return limiter


async def rate_limit_close_async() -> None:
    """Close this loop's Redis connections (tests run each case on a new event loop)."""
    global _async  # noqa: PLW0603
    if _async is not None and _async[0] is asyncio.get_running_loop():
        await _async[1].aclose()
    _async = None


def _wait(reset_time: float) -> int:
    return max(1, math.ceil(reset_time - time.time()))


def rate_limit_hit(bucket: str, key: str) -> int:
    """Count one request of `key` in `bucket`: 0 if allowed, else the seconds to wait."""
    item = rate_item(bucket)
    if item is None:
        return 0
    limiter, digest = _limiter(settings.REDIS_URL), _digest(key)
    try:
        if limiter.hit(item, bucket, digest):
            return 0
        return _wait(limiter.get_window_stats(item, bucket, digest).reset_time)
    except (StorageError, RedisError):
        logger.warning("rate limit %s skipped: Redis unavailable", bucket)
        return 0


async def rate_limit_hit_async(bucket: str, key: str) -> int:
    """`rate_limit_hit` on the event loop (the ASGI fast paths)."""
    item = rate_item(bucket)
    if item is None:
        return 0
    limiter, digest = _async_limiter(settings.REDIS_URL), _digest(key)
    try:
        if await limiter.hit(item, bucket, digest):
            return 0
        return _wait((await limiter.get_window_stats(item, bucket, digest)).reset_time)
    except (StorageError, RedisError):
        logger.warning("rate limit %s skipped: Redis unavailable", bucket)
        return 0


def refusal_detail(wait: int) -> str:
    """The message of a 429."""
    return f"Too many requests; retry in {wait} second{'s' if wait != 1 else ''}."


def too_many_requests(request: HttpRequest, wait: int) -> HttpResponse:
    """A JSON 429 with `Retry-After` (the default answer of `rate_limited`)."""
    response = JsonResponse({"detail": refusal_detail(wait)}, status=429)
    response["Retry-After"] = str(wait)
    return response


def client_ip(request: HttpRequest) -> str:
    """The peer address as a key (uvicorn fills it from X-Forwarded-For of trusted proxies)."""
    value = str(request.META.get("REMOTE_ADDR") or "")
    try:
        return str(ip_address(value))
    except ValueError:
        return "unknown"


def rate_limited(
    bucket: str,
    *,
    key: Callable[..., str],
    methods: Collection[str] | None = None,
    answer: Callable[[HttpRequest, int], HttpResponse] = too_many_requests,
) -> Callable[[View], View]:
    """Decorate a view: count each request (of `methods`, default all) against
    `key(request, **view_kwargs)` in `bucket`; over the limit, `answer(request, wait)`."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if methods is None or request.method in methods:
                wait = rate_limit_hit(bucket, key(request, *args, **kwargs))
                if wait:
                    return answer(request, wait)
            return view(request, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def by_ip(request: HttpRequest, *args: Any, **kwargs: Any) -> str:
    """Key: the client's IP."""
    return client_ip(request)


def by_user(request: HttpRequest, *args: Any, **kwargs: Any) -> str:
    """Key: the signed-in user (the IP for anonymous requests)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return client_ip(request)


def by_kwarg(name: str) -> Callable[..., str]:
    """Key: the URL argument `name` (a check-in key, a feed token)."""

    def key(request: HttpRequest, *args: Any, **kwargs: Any) -> str:
        return str(kwargs.get(name, ""))

    return key


def rate_limits_check(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """System check: every OPSDUTY_RATE_* value parses ("120/minute", "off")."""
    from django.core.checks import Error

    errors = []
    for bucket, rate in settings.OPSDUTY_RATE_LIMITS.items():
        try:
            _item(rate)
        except ValueError:
            errors.append(
                Error(
                    f"OPSDUTY_RATE_{bucket.upper()}={rate!r} is not a rate",
                    hint='Use a count per period like "120/minute" or "20/hour", or "off".',
                    id="opsduty.E010",
                )
            )
    return errors
