"""Budget state in Redis, shared by every gateway replica (``state: redis://...``).

Same semantics as ``MemoryBudgetStore`` (see ``budget``), made atomic across replicas by two
Lua scripts run with EVALSHA (a script runs alone on the Redis server):

* ``RESERVE`` evicts aged-out entries, checks every limit and, only if all fit, records the
  reservation on all of them (all-or-nothing). If one does not fit it returns the refused limits
  and how long until enough capacity frees up.
* ``ADJUST`` settles (sets an entry to the actual amount) or releases (removes it).

Keys (``prefix`` + the limit's key, which carries the ``{app}`` hash tag so that one request's
keys share a Redis Cluster slot):

* sliding limit: ``K`` a sorted set reservation id -> time, and ``K:h`` a hash reservation id ->
  amount with field ``#t`` = the sum of live amounts. Both expire 2 windows after the last reserve.
* daily limit: ``K:d<day>`` a counter of the UTC day, expiring a day after that day ends.

Times come from the caller's clock (``Budgets.clock``), so replicas need synchronised clocks
(NTP); a skew of *s* seconds shifts when entries age out by *s*. Amounts are integers below
2**53 (Lua numbers are doubles): about 9 million USD per day in nano-USD.
"""

from __future__ import annotations

import json
import math
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import ProviderUnavailable
from .budget import DAY, LimitSpec, Reservation, new_reservation_id, refusal, seconds_to_utc_midnight

__all__ = ["RedisBudgetStore"]

# KEYS: two per limit (sliding: zset, hash; daily: counter, counter).
# ARGV: rid, now, and a JSON array of strings, six per limit: kind ('s'|'d'), limit, amount,
#       cutoff ('' for daily), window (sliding) or seconds to midnight (daily), ttl in ms.
#       (One JSON argument instead of 6 per limit: packing ~40 arguments cost the client more
#       than the script costs the server.) Numbers travel as strings: exact, and usable as
#       INCRBY arguments without Lua number formatting.
# Returns {1} or {0, retry_after ('-1': can never fit), refused limit indices...}.
RESERVE = """
local rid, now = ARGV[1], ARGV[2]
local A = cjson.decode(ARGV[3])
local n = #KEYS / 2
local refused, wait, never = {}, 0, false
local function amount_of(h, m) return tonumber(redis.call('HGET', h, m) or '0') end
for i = 1, n do
  local z, h, b = KEYS[2*i-1], KEYS[2*i], (i-1)*6
  local daily = A[b+1] == 'd'
  local limit, amount = tonumber(A[b+2]), tonumber(A[b+3])
  local used
  if daily then
    used = tonumber(redis.call('GET', z) or '0')
  else
    local cutoff = A[b+4]
    local old = redis.call('ZRANGEBYSCORE', z, '-inf', cutoff)
    if #old > 0 then
      local freed = 0
      for _, m in ipairs(old) do
        local a = redis.call('HGET', h, m)
        if a then freed = freed + tonumber(a); redis.call('HDEL', h, m) end
      end
      redis.call('ZREMRANGEBYSCORE', z, '-inf', cutoff)
      if redis.call('EXISTS', z) == 0 then redis.call('DEL', h)
      elseif freed ~= 0 then redis.call('HINCRBY', h, '#t', string.format('%d', -freed)) end
    end
    used = tonumber(redis.call('HGET', h, '#t') or '0')
  end
  if used + amount > limit then
    refused[#refused+1] = i
    if amount > limit then never = true
    elseif daily then wait = math.max(wait, tonumber(A[b+5]))
    else
      local need, freed, start, window = used + amount - limit, 0, 0, tonumber(A[b+5])
      local ra = window
      while start < 10000 do
        local page = redis.call('ZRANGE', z, start, start + 199, 'WITHSCORES')
        if #page == 0 then break end
        local found = false
        for j = 1, #page, 2 do
          freed = freed + amount_of(h, page[j])
          if freed >= need then ra = tonumber(page[j+1]) + window - tonumber(now); found = true; break end
        end
        if found then break end
        start = start + 200
      end
      wait = math.max(wait, ra)
    end
  end
end
if #refused > 0 then
  if never then return {0, '-1', unpack(refused)} end
  return {0, tostring(wait), unpack(refused)}
end
for i = 1, n do
  local z, h, b = KEYS[2*i-1], KEYS[2*i], (i-1)*6
  local amount, ttl = A[b+3], A[b+6]
  if A[b+1] == 'd' then
    redis.call('INCRBY', z, amount)
    redis.call('PEXPIRE', z, ttl)
  else
    redis.call('ZADD', z, now, rid)
    redis.call('HSET', h, rid, amount)
    redis.call('HINCRBY', h, '#t', amount)
    redis.call('PEXPIRE', z, ttl)
    redis.call('PEXPIRE', h, ttl)
  end
end
return {1}
"""

# KEYS as RESERVE. ARGV: rid, JSON array of strings, two per hold: kind ('s'|'d'), value.
# sliding: value = actual amount, or 'r' to release (remove the entry); a missing entry has aged
# out already and is left alone. daily: value = delta to add to the day's counter, if it exists.
ADJUST = """
local rid, A = ARGV[1], cjson.decode(ARGV[2])
for i = 1, #KEYS / 2 do
  local z, h, b = KEYS[2*i-1], KEYS[2*i], (i-1)*2
  local v = A[b+2]
  if A[b+1] == 'd' then
    if v ~= '0' and redis.call('EXISTS', z) == 1 then redis.call('INCRBY', z, v) end
  else
    local old = redis.call('HGET', h, rid)
    if old then
      if v == 'r' then
        redis.call('ZREM', z, rid)
        redis.call('HDEL', h, rid)
        redis.call('HINCRBY', h, '#t', string.format('%d', -tonumber(old)))
      elseif v ~= old then
        redis.call('HSET', h, rid, v)
        redis.call('HINCRBY', h, '#t', string.format('%d', tonumber(v) - tonumber(old)))
      end
    end
  end
end
return 1
"""


def _s(x: Any) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


class RedisBudgetStore:
    """Budget store in Redis; several instances (replicas) on the same server and ``prefix``
    share every limit. Redis being unreachable raises ``ProviderUnavailable`` (503)."""

    def __init__(self, client: Redis, *, prefix: str = "hg:budget:", owns_client: bool = False) -> None:
        self.client = client
        self.prefix = prefix
        self._owns = owns_client
        self._reserve = client.register_script(RESERVE)  # computes the SHA locally, no I/O
        self._adjust = client.register_script(ADJUST)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "hg:budget:", **kwargs: Any) -> RedisBudgetStore:
        kwargs.setdefault("socket_timeout", 5.0)
        kwargs.setdefault("socket_connect_timeout", 2.0)
        return cls(Redis.from_url(url, **kwargs), prefix=prefix, owns_client=True)

    def _keys(self, spec: LimitSpec, bucket: str) -> tuple[str, str]:
        k = self.prefix + bucket
        return (k, k) if spec.daily else (k, k + ":h")

    async def _run(self, script: Any, keys: list[str], args: list[str]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise ProviderUnavailable(f"budget state store unreachable: {exc}", provider="state:redis") from exc

    async def reserve(self, limits: list[LimitSpec], amounts: dict[str, int], now: float) -> Reservation:
        rid = new_reservation_id()
        keys: list[str] = []
        args: list[str] = []
        holds = []
        for spec in limits:
            amt = int(amounts.get(spec.metric, 0))
            bucket = spec.bucket(now)
            keys.extend(self._keys(spec, bucket))
            if spec.daily:
                to_midnight = seconds_to_utc_midnight(now)
                args += ["d", str(spec.limit), str(amt), "", repr(to_midnight),
                         str(math.ceil((to_midnight + DAY) * 1000))]
            else:
                args += ["s", str(spec.limit), str(amt), repr(now - spec.window), repr(spec.window),
                         str(math.ceil(spec.window * 2000))]
            holds.append((spec, bucket, amt))
        res = await self._run(self._reserve, keys, [rid, repr(now), json.dumps(args)])
        if int(res[0]) == 1:
            return Reservation(rid, now, holds)
        wait = float(_s(res[1]))
        raise refusal([limits[int(i) - 1] for i in res[2:]], None if wait < 0 else wait)

    async def _apply(self, r: Reservation, actual: dict[str, int] | None) -> None:
        keys: list[str] = []
        args: list[str] = []
        for spec, bucket, amt in r.holds:
            keys.extend(self._keys(spec, bucket))
            new = 0 if actual is None else int(actual.get(spec.metric, amt))
            if spec.daily:
                args += ["d", str(new - amt)]
            else:
                args += ["s", "r" if actual is None else str(new)]
        await self._run(self._adjust, keys, [r.id, json.dumps(args)])

    async def settle(self, reservation: Reservation, actual: dict[str, int]) -> None:
        await self._apply(reservation, actual)

    async def release(self, reservation: Reservation) -> None:
        await self._apply(reservation, None)

    async def used(self, spec: LimitSpec, now: float) -> int:
        """Usage of one limit at ``now`` (entries not yet evicted but aged out are excluded)."""
        k, h = self._keys(spec, spec.bucket(now))
        if spec.daily:
            return int(await self.client.get(k) or 0)
        live = await self.client.zrangebyscore(k, f"({now - spec.window!r}", "+inf")
        if not live:
            return 0
        return sum(int(a or 0) for a in await self.client.hmget(h, live))

    async def aclose(self) -> None:
        if self._owns:
            await self.client.aclose()
