"""The Lua scripts of the Redis session store: each primitive is one script, so that a check
and its write are one step for every worker and node (Redis runs one script at a time).

Keys (every one under the store's prefix `p`, ARGV[1] = "p:"):

    p:generation             "<generation>:<run_id>": the session generation this Redis holds,
                             and the run id of the Redis process that was written to
    p:generation:lock        held while a node renews the generation (SET NX PX)
    p:session:<id>           a hash: the session's fields, and `g`, its generation; it expires
                             natively at its absolute expiry plus a margin
    p:expiry                 a sorted set of session ids by absolute expiry (the sweep's index)
    p:user:<user>            the ids of the sessions whose identity is <user>
    p:account:<account>      the ids of the sessions that belong to the account <account>

The two sets expire with the longest-lived session they name; an id whose hash expired natively
is dropped from an index when a script meets it there.

Every script but the generation's takes ARGV[2], the generation the calling node holds, and first
checks it: the marker must read "<that generation>:<the run id of this Redis process>". A Redis
that restarted (from a snapshot or an append-only file, or a replica promoted) has another run
id; one whose data was lost or written back from elsewhere holds no marker or another
generation. Then the script does nothing and answers {0}: the node renews the generation
(redis_sessions.py) and calls it again. Otherwise it answers {1, ...}. A session of another
generation than the marker's is deleted where a script finds it, and never returned.

Every script that writes a session (creates, touches, activates, rebinds, counts a wrong token,
deletes) publishes "session" on p:hulk:changed, the change channel the failure counters' caches
listen on (redis_failures.py), in the same step as the write.

Numbers (times) are the caller's decimal strings, stored as given and compared with tonumber():
Lua never formats a number that is stored.
"""

from __future__ import annotations

from typing import Final

_PRELUDE: Final = """
local prefix, generation = ARGV[1], ARGV[2]

local function current()
    local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
    if run_id == nil then return false end
    return redis.call('GET', prefix .. 'generation') == generation .. ':' .. run_id
end

-- a session was written: every node's change listener hears it (redis_failures.py; the memo
-- of verified credentials, core/verified_headers.py, stands on it)
local function changed()
    redis.call('PUBLISH', prefix .. 'hulk:changed', 'session')
end

local function forget(id, user, account)
    redis.call('DEL', prefix .. 'session:' .. id)
    redis.call('ZREM', prefix .. 'expiry', id)
    if user then redis.call('SREM', prefix .. 'user:' .. user, id) end
    if account then redis.call('SREM', prefix .. 'account:' .. account, id) end
end

-- the session's fields (flat) and a table of them; nil if absent or of another generation
local function load(id)
    local fields = redis.call('HGETALL', prefix .. 'session:' .. id)
    if #fields == 0 then return nil end
    local record = {}
    for i = 1, #fields, 2 do record[fields[i]] = fields[i + 1] end
    if record.g ~= generation then
        forget(id, record.user, record.account)
        return nil
    end
    return fields, record
end

local function index(key, id, ttl)
    redis.call('SADD', key, id)
    if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end

if not current() then return {0} end
"""

# ARGV: prefix, generation, id, ttl (ms), expires_at, user, account ('' for none), then the
# hash's field/value pairs. {1, 1}: created; {1, 0}: the id exists.
INSERT: Final = (
    _PRELUDE
    + """
local id, ttl, expires_at, user, account = ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7]
if load(id) then return {1, 0} end
local key = prefix .. 'session:' .. id
redis.call('HSET', key, 'g', generation, unpack(ARGV, 8))
redis.call('PEXPIRE', key, ttl)
redis.call('ZADD', prefix .. 'expiry', expires_at, id)
index(prefix .. 'user:' .. user, id, ttl)
if account ~= '' then index(prefix .. 'account:' .. account, id, ttl) end
changed()
return {1, 1}
"""
)

# ARGV: prefix, generation, id. {1}: none; {1, fields}: the session's fields, flat.
GET: Final = (
    _PRELUDE
    + """
local fields = load(ARGV[3])
if fields then return {1, fields} end
return {1}
"""
)

# ARGV: prefix, generation, id, last_seen. Moves last_seen forward only. {1, changed}
TOUCH: Final = (
    _PRELUDE
    + """
local id, last_seen = ARGV[3], ARGV[4]
local fields, record = load(id)
if fields and tonumber(record.last_seen) < tonumber(last_seen) then
    redis.call('HSET', prefix .. 'session:' .. id, 'last_seen', last_seen)
    changed()
    return {1, 1}
end
return {1, 0}
"""
)

# ARGV: prefix, generation, id, bound_address, now. `unused` -> `active`, once. {1, changed}
ACTIVATE: Final = (
    _PRELUDE
    + """
local id = ARGV[3]
local fields, record = load(id)
if fields and record.state == 'unused' then
    redis.call('HSET', prefix .. 'session:' .. id,
        'state', 'active', 'bound_address', ARGV[4], 'last_seen', ARGV[5])
    changed()
    return {1, 1}
end
return {1, 0}
"""
)

# ARGV: prefix, generation, id, unused_since, bound_address, now. Binds while last_seen is
# still `unused_since`. {1, changed}
REBIND: Final = (
    _PRELUDE
    + """
local id = ARGV[3]
local fields, record = load(id)
if fields and tonumber(record.last_seen) == tonumber(ARGV[4]) then
    redis.call('HSET', prefix .. 'session:' .. id, 'bound_address', ARGV[5], 'last_seen', ARGV[6])
    changed()
    return {1, 1}
end
return {1, 0}
"""
)

# ARGV: prefix, generation, id. {1, the new count} (0: no such session)
WRONG_TOKEN: Final = (
    _PRELUDE
    + """
local id = ARGV[3]
if load(id) then
    local count = redis.call('HINCRBY', prefix .. 'session:' .. id, 'wrong_tokens', 1)
    changed()
    return {1, count}
end
return {1, 0}
"""
)

# ARGV: prefix, generation, id. {1, deleted}
DELETE: Final = (
    _PRELUDE
    + """
local id = ARGV[3]
local fields, record = load(id)
if fields then
    forget(id, record.user, record.account)
    changed()
    return {1, 1}
end
return {1, 0}
"""
)

# ARGV: prefix, generation, user. {1, fields, fields, ...}: the sessions whose identity is
# `user` or that belong to the account `user`, in no order.
SESSIONS_OF: Final = (
    _PRELUDE
    + """
local user = ARGV[3]
local by_user, by_account = prefix .. 'user:' .. user, prefix .. 'account:' .. user
local found = {1}
for _, id in ipairs(redis.call('SUNION', by_user, by_account)) do
    local fields = load(id)
    if fields then
        table.insert(found, fields)
    else
        redis.call('SREM', by_user, id)
        redis.call('SREM', by_account, id)
        if redis.call('EXISTS', prefix .. 'session:' .. id) == 0 then
            redis.call('ZREM', prefix .. 'expiry', id)
        end
    end
end
return found
"""
)

# ARGV: prefix, generation, before, limit. {1, id, id, ...}: sessions whose absolute expiry is
# at or before `before`, at most `limit`; ids whose hash is gone leave the index.
EXPIRED: Final = (
    _PRELUDE
    + """
local found = {1}
local ids = redis.call('ZRANGEBYSCORE', prefix .. 'expiry', '-inf', ARGV[3], 'LIMIT', 0, ARGV[4])
for _, id in ipairs(ids) do
    if load(id) then
        table.insert(found, id)
    else
        redis.call('ZREM', prefix .. 'expiry', id)
    end
end
return found
"""
)

# ARGV: prefix, generation. {1} if the marker holds `generation` for this Redis process, else
# {0}.
CHECK: Final = _PRELUDE + "return {1}\n"

# ARGV: prefix, generation. Writes the marker for this Redis process. {1}
MARK: Final = """
local prefix, generation = ARGV[1], ARGV[2]
local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
if run_id == nil then return redis.error_reply('no run id') end
redis.call('SET', prefix .. 'generation', generation .. ':' .. run_id)
return {1}
"""

# KEYS: the lock; ARGV: the holder's token. Deletes the lock if that holder still has it.
UNLOCK: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
