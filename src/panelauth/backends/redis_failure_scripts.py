"""The Lua scripts of the failure counters on Redis (redis_failures.py): each primitive is one
script, so that a count and its write are one step for every worker and node (BF-4).

Keys (every one under the store's prefix `p`, ARGV[1] = "p:"):

    p:hulk:address:<address key>   a sorted set of the address's failures, by time
    p:hulk:user:<user key>         a sorted set of the account's failures, by time
    p:hulk:failures                a sorted set of every failure, by time (the history)

A failure is one member, the same text in its three sets: a JSON array [id, address key,
address, user key, user, service, method, at] (the id, random, keeps two failures of the same
second apart). Every set expires natively once no window can count what it holds; every change
is published on the channel p:hulk:changed (the address key, or * for many), which tells every
worker's cache (redis_failures.py).

Times are the caller's decimal strings; a window's start is exclusive, as in the SQL stores
(`at > since`).
"""

from __future__ import annotations

from typing import Final

_PRELUDE: Final = """
local prefix = ARGV[1]
local history = prefix .. 'hulk:failures'
local channel = prefix .. 'hulk:changed'
local function by_address(key) return prefix .. 'hulk:address:' .. key end
local function by_user(key) return prefix .. 'hulk:user:' .. key end

local function expire_after(key, ttl)
    if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end

local function add(failure, at, address_key, user_key, ttl)
    for _, key in ipairs({by_address(address_key), by_user(user_key), history}) do
        redis.call('ZADD', key, at, failure)
        expire_after(key, ttl)
    end
end

-- one failure, out of its three sets
local function forget(failure)
    local fields = cjson.decode(failure)
    redis.call('ZREM', by_address(fields[2]), failure)
    redis.call('ZREM', by_user(fields[4]), failure)
    redis.call('ZREM', history, failure)
end

local function count(key, since) return redis.call('ZCOUNT', key, '(' .. since, '+inf') end
"""

# ARGV: prefix, failure, at, address key, user key, address since, address limit, user since
# ('' : not counted per account), user limit, ttl (ms). 1: recorded; 0: refused at a limit.
RESERVE: Final = (
    _PRELUDE
    + """
local address_key, user_key = ARGV[4], ARGV[5]
local address_limit = tonumber(ARGV[7])
if address_limit > 0 and count(by_address(address_key), ARGV[6]) >= address_limit then
    return 0
end
if ARGV[8] ~= '' and count(by_user(user_key), ARGV[8]) >= tonumber(ARGV[9]) then return 0 end
add(ARGV[2], ARGV[3], address_key, user_key, tonumber(ARGV[10]))
redis.call('PUBLISH', channel, address_key)
return 1
"""
)

# ARGV: prefix, failure ('' : reserved, already recorded), at, address key, user key, address
# since, lookback since, user since, horizon, ttl (ms). {the address's failures within its
# window, within the lookback, the account's within its window}; what no window counts any more
# (at or before the horizon) is forgotten first.
RECORD: Final = (
    _PRELUDE
    + """
local address_key, user_key = ARGV[4], ARGV[5]
if ARGV[2] ~= '' then add(ARGV[2], ARGV[3], address_key, user_key, tonumber(ARGV[10])) end
for _, failure in ipairs(redis.call('ZRANGEBYSCORE', history, '-inf', ARGV[9], 'LIMIT', 0, 1000)) do
    forget(failure)
end
redis.call('PUBLISH', channel, address_key)
return {
    count(by_address(address_key), ARGV[6]),
    count(by_address(address_key), ARGV[7]),
    count(by_user(user_key), ARGV[8]),
}
"""
)

# ARGV: prefix, address key, user key. The number of failures of that pair forgotten.
CLEAR: Final = (
    _PRELUDE
    + """
local address_key, user_key = ARGV[2], ARGV[3]
local removed = 0
for _, failure in ipairs(redis.call('ZRANGE', by_address(address_key), 0, -1)) do
    if cjson.decode(failure)[4] == user_key then
        forget(failure)
        removed = removed + 1
    end
end
if removed > 0 then redis.call('PUBLISH', channel, address_key) end
return removed
"""
)

# ARGV: prefix, the number N of address keys, N address keys, then user keys. The number of
# failures forgotten.
UNBLOCK: Final = (
    _PRELUDE
    + """
local addresses = tonumber(ARGV[2])
local removed = 0
for i = 3, #ARGV do
    local key = i <= 2 + addresses and by_address(ARGV[i]) or by_user(ARGV[i])
    for _, failure in ipairs(redis.call('ZRANGE', key, 0, -1)) do
        forget(failure)
        removed = removed + 1
    end
end
if removed > 0 then redis.call('PUBLISH', channel, '*') end
return removed
"""
)

# ARGV: prefix. The number of failures forgotten (every one).
FLUSH: Final = (
    _PRELUDE
    + """
local removed = 0
for _, failure in ipairs(redis.call('ZRANGE', history, 0, -1)) do
    forget(failure)
    removed = removed + 1
end
if removed > 0 then redis.call('PUBLISH', channel, '*') end
return removed
"""
)
