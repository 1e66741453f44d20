#include "cluster/scripts.h"

const char *const cluster_keys[CLUSTER_NKEYS] = {
    "{rdv}:reg", "{rdv}:peer", "{rdv}:exp", "{rdv}:log", "{rdv}:nodes", "{rdv}:logn", "{rdv}:last",
};

const char *const cluster_script_names[CLUSTER_SCRIPTS] = {
    "register", "unregister", "expire-due", "heartbeat", "reap-dead-node", "snapshot",
};

/* Shared by every script: the keys, Redis time, the parts of a stored
 * value, and removal with its log entry. */
#define PRELUDE                                                                              \
    "local R,P,X,L,N,C,LAST = KEYS[1],KEYS[2],KEYS[3],KEYS[4],KEYS[5],KEYS[6],KEYS[7]\n"     \
    "local function now_ms() local t = redis.call('TIME')\n"                                 \
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) end\n"               \
    "local function parts(v) local a = string.find(v, '\\n', 1, true)\n"                     \
    "  local b = string.find(v, '\\n', a + 1, true)\n"                                       \
    "  return string.sub(v, 1, a - 1), string.sub(v, a + 1, b - 1) end\n"                    \
    "local function node_of(owner) local c = string.find(owner, ':', 1, true)\n"             \
    "  if c then return string.sub(owner, 1, c - 1) end return owner end\n"                  \
    "local function peer_of(key) return string.sub(key, 2, 1 + string.byte(key, 1)) end\n"   \
    "local function append(logmax, ...)\n"                                                   \
    "  local n = redis.call('INCR', C)\n"                                                    \
    "  local id = redis.call('XADD', L, 'MAXLEN', logmax, '*', 'n', n, ...)\n"               \
    "  redis.call('SET', LAST, id) return id end\n"                                          \
    "local function remove(key, old, why, logmax)\n"                                         \
    "  local seq, owner = parts(old)\n"                                                      \
    "  redis.call('HDEL', R, key) redis.call('ZREM', X, key)\n"                              \
    "  if owner ~= '' then redis.call('SREM', '{rdv}:own:' .. node_of(owner), key) end\n"    \
    "  local peer = peer_of(key)\n"                                                          \
    "  if redis.call('HINCRBY', P, peer, -1) <= 0 then redis.call('HDEL', P, peer) end\n"    \
    "  append(logmax, 'op', 'u', 'k', key, 's', seq, 'why', why) end\n"

static const char *const cluster__sources[CLUSTER_SCRIPTS] = {
    [CLUSTER_SCRIPT_REGISTER] = PRELUDE
    "local key, owner, ttl, body = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]\n"
    "local logmax = ARGV[7]\n"
    "local rate, burst, cut, tl = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])\n"
    /* A refresh: the same owner and body but for the TTL field, which our
     * encoder puts between byte cut and the fields after it. The old
     * body's middle must be nothing or exactly one TTL field (tag 0x20,
     * a varint). */
    "local function refresh(old)\n"
    "  local _, oo = parts(old)\n"
    "  if oo ~= owner then return false end\n"
    "  local a = string.find(old, '\\n', 1, true)\n"
    "  local b = string.find(old, '\\n', a + 1, true)\n"
    "  local ob = string.sub(old, string.find(old, '\\n', b + 1, true) + 1)\n"
    "  local pre, suf = string.sub(body, 1, cut), string.sub(body, cut + tl + 1)\n"
    "  if #ob < #pre + #suf or string.sub(ob, 1, cut) ~= pre or\n"
    "     string.sub(ob, #ob - #suf + 1) ~= suf then return false end\n"
    "  local mid = string.sub(ob, cut + 1, #ob - #suf)\n"
    "  if mid == '' then return true end\n"
    "  if #mid < 2 or #mid > 11 or string.byte(mid, 1) ~= 32 then return false end\n"
    "  for i = 2, #mid - 1 do if string.byte(mid, i) < 128 then return false end end\n"
    "  return string.byte(mid, #mid) < 128 end\n"
    "local old = redis.call('HGET', R, key)\n"
    "local peer = peer_of(key)\n"
    "local cost = 1\n"
    "if old then\n"
    "  if refresh(old) then cost = 0.1 end\n"
    "else\n"
    "  if tonumber(redis.call('HGET', P, peer) or '0') >= tonumber(ARGV[5]) then return '!PEER' end\n"
    "  if redis.call('HLEN', R) >= tonumber(ARGV[6]) then return '!TOTAL' end\n"
    "end\n"
    /* The peer's token bucket: no key is a full one; the key expires when
     * the bucket would be full again (at most 30 days on: a tiny rate). */
    "if rate > 0 then\n"
    "  local bk, t = '{rdv}:rate:' .. peer, now_ms()\n"
    "  local v = redis.call('HMGET', bk, 'tokens', 'last')\n"
    "  local tokens = burst\n"
    "  if v[1] then\n"
    "    tokens = tonumber(v[1])\n"
    "    local last = tonumber(v[2])\n"
    "    if t > last then tokens = tokens + (t - last) / 1000 * rate end\n"
    "    if tokens > burst then tokens = burst end\n"
    "  end\n"
    "  if tokens < cost then return '!RATE' end\n"
    "  tokens = tokens - cost\n"
    "  redis.call('HSET', bk, 'tokens', string.format('%.17g', tokens), 'last', t)\n"
    "  redis.call('PEXPIRE', bk, math.min(math.floor((burst - tokens) / rate * 1000) + 1, 2592000000))\n"
    "end\n"
    "if old then\n"
    "  local _, oo = parts(old)\n"
    "  if oo ~= '' then redis.call('SREM', '{rdv}:own:' .. node_of(oo), key) end\n"
    "else\n"
    "  redis.call('HINCRBY', P, peer, 1)\n"
    "end\n"
    "local exp = 0\n"
    "if ttl > 0 then exp = now_ms() + ttl * 1000 redis.call('ZADD', X, exp, key)\n"
    "else redis.call('ZREM', X, key) end\n"
    "if owner ~= '' then redis.call('SADD', '{rdv}:own:' .. node_of(owner), key) end\n"
    "local v = owner .. '\\n' .. string.format('%d', exp) .. '\\n' .. body\n"
    "local id = append(logmax, 'op', 'r', 'k', key, 'v', v)\n"
    "redis.call('HSET', R, key, id .. '\\n' .. v)\n"
    "return id\n",

    [CLUSTER_SCRIPT_UNREGISTER] = PRELUDE
    "local key, want, why, logmax = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"
    "local old = redis.call('HGET', R, key)\n"
    "if not old then return 0 end\n"
    "if want ~= '' then\n"
    "  local _, owner = parts(old)\n"
    "  if string.sub(want, -1) == ':' then\n"
    "    if node_of(owner) .. ':' ~= want then return 0 end\n"
    "  elseif owner ~= want then return 0 end\n"
    "end\n"
    "remove(key, old, why, logmax)\n"
    "return 1\n",

    [CLUSTER_SCRIPT_EXPIRE] = PRELUDE
    "local due = redis.call('ZRANGEBYSCORE', X, '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[2]))\n"
    "for _, key in ipairs(due) do\n"
    "  local old = redis.call('HGET', R, key)\n"
    "  if old then remove(key, old, 'x', ARGV[1]) else redis.call('ZREM', X, key) end\n"
    "end\n"
    "return #due\n",

    [CLUSTER_SCRIPT_HEARTBEAT] = PRELUDE
    "local known = redis.call('ZSCORE', N, ARGV[1])\n"
    "local t = now_ms()\n"
    "redis.call('ZADD', N, t, ARGV[1])\n"
    "return {known and 1 or 0, redis.call('ZCARD', N), redis.call('GET', C) or '0',\n"
    "        redis.call('GET', LAST) or '0-0', t}\n",

    [CLUSTER_SCRIPT_REAP] = PRELUDE
    "local self, logmax = ARGV[1], ARGV[3]\n"
    "local dead\n"
    "if ARGV[4] then dead = {ARGV[4]} self = ''\n"
    "else dead = redis.call('ZRANGEBYSCORE', N, '-inf', '(' .. (now_ms() - tonumber(ARGV[2]))) end\n"
    "local reaped = 0\n"
    "for _, node in ipairs(dead) do\n"
    "  if node ~= self then\n"
    "    local own = '{rdv}:own:' .. node\n"
    "    for _, key in ipairs(redis.call('SMEMBERS', own)) do\n"
    "      local old = redis.call('HGET', R, key)\n"
    "      if old then\n"
    "        local _, owner = parts(old)\n"
    "        if node_of(owner) == node then remove(key, old, 'reap', logmax) end\n"
    "      end\n"
    "    end\n"
    "    redis.call('DEL', own) redis.call('ZREM', N, node) reaped = reaped + 1\n"
    "  end\n"
    "end\n"
    "return reaped\n",

    [CLUSTER_SCRIPT_SNAPSHOT] = PRELUDE
    "local out = {redis.call('GET', LAST) or '0-0', redis.call('GET', C) or '0'}\n"
    "local all = redis.call('HGETALL', R)\n"
    "for i = 1, #all do out[#out + 1] = all[i] end\n"
    "return out\n",
};

const char *cluster_script_source(enum cluster_script i)
{
    return cluster__sources[i];
}
