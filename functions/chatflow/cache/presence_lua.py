"""The Lua scripts behind presence transitions (docs/adr/0005-presence-heartbeats.md).

Every script touches only the two keys of one room, ``presence:{roomId}`` (the sorted
set the reader uses, score = expiry epoch ms) and ``presence:{roomId}:users`` (the same
members, all with score 0, so ``ZRANGE ... BYLEX`` finds one user's members in
O(log N) instead of scanning the room). Both carry the room's hash tag, so each script
runs on one cluster slot. A user is "live" while one of their members has a score
above ``now``; a script reports a transition only when it changes that, atomically,
which is why several tabs of one user give one ``online`` and one ``offline``.
``Batch`` sends scripts and plain commands together in one pipelined round trip.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import NoScriptError

from chatflow.cache.client import Redis

# Shared helper: does the user keep a member whose score is above now?
_HAS_LIVE = """
local function has_live(zkey, ikey, user, now)
  local members = redis.call('ZRANGE', ikey, '[' .. user .. ':', '(' .. user .. ';',
                             'BYLEX', 'LIMIT', 0, 1000)
  if #members == 0 then return false end
  local scores = redis.call('ZMSCORE', zkey, unpack(members))
  for i = 1, #scores do
    if scores[i] and tonumber(scores[i]) > now then return true end
  end
  return false
end
local function user_of(member)
  return string.match(member, '^([^:]+):')
end
"""

# KEYS: zset, index. ARGV: user, member, score, now. Returns 1 iff the user was not live.
JOIN = (
    _HAS_LIVE
    + """
local was_live = has_live(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[4]))
redis.call('ZADD', KEYS[1], 'GT', ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[2])
if was_live then return 0 end
return 1
"""
)

# KEYS: zset, index. ARGV: now, max_score, members...
# Removes each member whose score is <= max_score (so a member re-joined since the
# caller looked is kept). Returns {members left, members removed, {users now not live}}.
REMOVE = (
    _HAS_LIVE
    + """
local now = tonumber(ARGV[1])
local max_score = tonumber(ARGV[2])
local users, order, removed = {}, {}, 0
for i = 3, #ARGV do
  local member = ARGV[i]
  local score = redis.call('ZSCORE', KEYS[1], member)
  if not score then
    redis.call('ZREM', KEYS[2], member)
  elseif tonumber(score) <= max_score then
    redis.call('ZREM', KEYS[1], member)
    redis.call('ZREM', KEYS[2], member)
    removed = removed + 1
    local user = user_of(member)
    if user and not users[user] then
      users[user] = true
      table.insert(order, user)
    end
  end
end
local offline = {}
for _, user in ipairs(order) do
  if not has_live(KEYS[1], KEYS[2], user, now) then table.insert(offline, user) end
end
return {redis.call('ZCARD', KEYS[1]), removed, offline}
"""
)

# KEYS: zset, index. ARGV: now, new_score, members...
# Raises the score of members still present (never lowers it, never re-adds a member
# that left). Returns {members extended, {users that were not live and now are}}: an
# expired member whose connection is still alive comes back online.
EXTEND = (
    _HAS_LIVE
    + """
local now = tonumber(ARGV[1])
local present, users, order = {}, {}, {}
for i = 3, #ARGV do
  local member = ARGV[i]
  local score = redis.call('ZSCORE', KEYS[1], member)
  if score then
    table.insert(present, member)
    local user = user_of(member)
    if tonumber(score) <= now and user and not users[user] then
      users[user] = true
      table.insert(order, user)
    end
  end
end
local revived = {}
for _, user in ipairs(order) do
  if not has_live(KEYS[1], KEYS[2], user, now) then table.insert(revived, user) end
end
for _, member in ipairs(present) do
  redis.call('ZADD', KEYS[1], 'XX', 'GT', ARGV[2], member)
end
return {#present, revived}
"""
)


@dataclass(frozen=True, slots=True)
class LuaScript:
    """A script sent by SHA (EVALSHA); the source is loaded only when the server lacks it."""

    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()
        object.__setattr__(self, "sha", digest)


JOIN_SCRIPT = LuaScript(JOIN)
REMOVE_SCRIPT = LuaScript(REMOVE)
EXTEND_SCRIPT = LuaScript(EXTEND)


class Batch:
    """Commands sent in one round trip; scripts go by SHA and are loaded only on NOSCRIPT.

    redis-py's own ``Script`` objects ask ``SCRIPT EXISTS`` before every pipeline, which
    would double the round trips of the frame path.
    """

    def __init__(self, client: Redis) -> None:
        self._client = client
        self._ops: list[tuple[tuple[str | int, ...], LuaScript | None]] = []

    def add(self, *command: str | int) -> int:
        self._ops.append((command, None))
        return len(self._ops) - 1

    def script(self, lua: LuaScript, keys: Sequence[str], args: Sequence[str | int]) -> int:
        self._ops.append((("EVALSHA", lua.sha, len(keys), *keys, *args), lua))
        return len(self._ops) - 1

    def run(self) -> list[Any]:
        if not self._ops:
            return []
        results = self._send(range(len(self._ops)))
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:
            for lua in {self._ops[i][1] for i in missing}:
                if lua is not None:
                    self._client.script_load(lua.source)
            for i, result in zip(missing, self._send(missing), strict=True):
                results[i] = result
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    def _send(self, indices: Iterable[int]) -> list[Any]:
        pipe = self._client.pipeline(transaction=False)
        queue: Callable[..., object] = pipe.execute_command  # untyped in redis-py
        for i in indices:
            queue(*self._ops[i][0])
        return list(pipe.execute(raise_on_error=False))
