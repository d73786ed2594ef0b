"""The Lua scripts that read and change buckets atomically, on Redis' clock.

They are Python strings rather than ``.lua`` files so that they ship with the package whatever
the installer does with data files. Each script is one atomic step: Redis runs nothing else while
it runs, so the refill, the check and the debit of every bucket in a call happen at one instant
(``TIME``) for all workers of all hosts.

State of a bucket, a hash at ``spec.key``:

    tokens        tokens held at ``ts`` (negative while a cost above the burst is being repaid)
    ts            Redis time, in seconds, when ``tokens`` and ``factor`` were true
    factor        share of the nominal rate in force at ``ts`` (1.0 unless penalised after a 429)
    penalized_at  Redis time of the last penalty, to ignore its echoes

Refill is lazy and exact: between ``ts`` and now the factor climbs linearly by ``recovery`` per
window until it reaches 1, and the bucket earns ``rate`` times the integral of that factor,
clamped at ``burst``. Because the clamp only ever lowers the result, evaluating at any
intermediate time gives the same state, so refusals need not write anything.

A missing hash (never used, expired, or lost in a flush or failover) loads as *just drained*:
zero tokens, full rate. That is the only reconstruction that cannot break the window bound, since
the lost state may have been empty a moment ago; it costs one burst's refill time (0.12 s for the
Mixin quota) when a bot starts sending.

A Redis restored from an older snapshot (RDB, or AOF with ``everysec``) is the one case a
conservative reload cannot see: the hash exists but predates the last grants. It can lend at most
one extra burst once per restore (the refill clamps at the burst), which the jitter margin of the
quota absorbs: ``rate·Δ`` is 825 tokens for the Mixin quota against a burst of 200.

Numbers cross the Lua boundary as strings: Redis truncates Lua numbers to integers.
"""

from __future__ import annotations

_PRELUDE = r"""
local function fmt(x)
  return string.format('%.17g', x)
end

local function redis_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

-- Integral over [0, elapsed] of min(1, factor + k*t): seconds of full-rate refill earned.
local function earned(factor, k, elapsed)
  if elapsed <= 0 then return 0 end
  if factor >= 1 then return elapsed end
  local to_full = (1 - factor) / k
  if elapsed <= to_full then
    return elapsed * (factor + k * elapsed / 2)
  end
  return to_full * (factor + 1) / 2 + (elapsed - to_full)
end

local function load(key, rate, burst, k, now)
  local h = redis.call('HMGET', key, 'tokens', 'ts', 'factor', 'penalized_at')
  if not h[1] then
    -- No history: assume the bucket was drained just now (see the module docstring).
    return {tokens = 0, ts = now, factor = 1, penalized_at = 0, fresh = true}
  end
  local ts = tonumber(h[2])
  local factor = tonumber(h[3])
  -- If Redis' clock stepped back (a failover to another host), earn nothing until it catches up.
  local elapsed = math.max(0, now - ts)
  return {
    tokens = math.min(burst, tonumber(h[1]) + rate * earned(factor, k, elapsed)),
    ts = math.max(ts, now),
    factor = math.min(1, factor + k * elapsed),
    penalized_at = tonumber(h[4]),
    fresh = false,
  }
end

local function save(key, st, rate, burst, window, k)
  redis.call('HSET', key, 'tokens', fmt(st.tokens), 'ts', fmt(st.ts),
             'factor', fmt(st.factor), 'penalized_at', fmt(st.penalized_at))
  -- Keep the state until it would reload no worse than "full at full rate"; a key that expires
  -- after that reloads as drained, which is only more careful.
  local to_full_rate = (1 - st.factor) / k
  local to_full_tokens = (burst - st.tokens) / (rate * st.factor)
  local ttl = window + math.max(0, to_full_rate, to_full_tokens)
  redis.call('PEXPIRE', key, math.ceil(ttl * 1000))
end
"""

# KEYS: bucket keys. ARGV: unused, recovery per window, "take" or "peek" (read only), then
# (rate, burst, window, cost) per key. Returns {1 if taken else 0, seconds to wait, Redis time}.
TAKE = (
    _PRELUDE
    + r"""
local recovery = tonumber(ARGV[2])
local peek = ARGV[3] == 'peek'
local now = redis_now()
local buckets = {}
local short = false
local wait = 0
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[4 * i])
  local burst = tonumber(ARGV[4 * i + 1])
  local window = tonumber(ARGV[4 * i + 2])
  local cost = tonumber(ARGV[4 * i + 3])
  local k = recovery / window
  local st = load(key, rate, burst, k, now)
  -- A cost above the burst can never be held; it is granted once the bucket is full.
  local need = math.min(cost, burst)
  if st.tokens < need then
    short = true
    wait = math.max(wait, (need - st.tokens) / (rate * st.factor))
  end
  buckets[i] = {key = key, st = st, rate = rate, burst = burst, window = window, k = k,
                cost = cost}
end
if peek then
  return {short and 0 or 1, fmt(wait), fmt(now)}
end
for _, b in ipairs(buckets) do
  if not short then
    b.st.tokens = b.st.tokens - b.cost
    save(b.key, b.st, b.rate, b.burst, b.window, b.k)
  elseif b.st.fresh then
    -- Start the refill clock of a bucket seen for the first time, or it would never fill.
    save(b.key, b.st, b.rate, b.burst, b.window, b.k)
  end
end
return {short and 0 or 1, fmt(wait), fmt(now)}
"""
)

# KEYS: one bucket key. ARGV: recovery per window, floor, cooldown seconds, rate, burst, window.
# Returns {1 if the penalty applied else 0, factor now}.
PENALIZE = (
    _PRELUDE
    + r"""
local recovery = tonumber(ARGV[1])
local floor = tonumber(ARGV[2])
local cooldown = tonumber(ARGV[3])
local rate = tonumber(ARGV[4])
local burst = tonumber(ARGV[5])
local window = tonumber(ARGV[6])
local k = recovery / window
local now = redis_now()
local st = load(KEYS[1], rate, burst, k, now)
local applied = 0
-- Batches in flight when the provider started refusing all come back 429 at about the same
-- time; they report one overload, not several, so they halve the rate once.
if now - st.penalized_at >= cooldown then
  st.factor = math.max(floor, st.factor / 2)
  -- The provider says its window is already full: stop spending what the bucket had saved.
  st.tokens = math.min(st.tokens, 0)
  st.penalized_at = now
  applied = 1
end
save(KEYS[1], st, rate, burst, window, k)
return {applied, fmt(st.factor)}
"""
)

# KEYS: one bucket key. ARGV: recovery per window, rate, burst, window. Read-only.
# Returns {tokens now, effective rate now}.
LEVEL = (
    _PRELUDE
    + r"""
local recovery = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local st = load(KEYS[1], rate, burst, recovery / window, redis_now())
return {fmt(st.tokens), fmt(rate * st.factor)}
"""
)
