"""A scripted session through the real redis-py client (Debian's python3-redis).

Usage: redis_py_session.py PORT. Exits non-zero with a message on the first mismatch.
"""
import sys
import time

import redis

port = int(sys.argv[1])
r = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)


def check(label, actual, expected):
    if actual != expected:
        print(f"FAIL {label}: expected {expected!r}, got {actual!r}")
        sys.exit(1)


check("ping", r.ping(), True)
r.flushall()
check("set", r.set("py:k", "v"), True)
check("get", r.get("py:k"), "v")
check("set nx", r.set("py:k", "w", nx=True), None)
check("set xx get", r.set("py:k", "w", xx=True, get=True), "v")
check("set ex", r.set("py:e", "1", ex=100), True)
check("ttl", r.ttl("py:e"), 100)
check("pexpire", r.pexpire("py:e", 50000), True)
check("persist", r.persist("py:e"), True)
check("ttl after persist", r.ttl("py:e"), -1)
check("incr", r.incr("py:n"), 1)
check("incrby", r.incrby("py:n", 41), 42)
check("decr", r.decr("py:n"), 41)
check("incrbyfloat", r.incrbyfloat("py:f", 0.1), 0.1)
check("incrbyfloat 2", r.incrbyfloat("py:f", 0.2), 0.3)
check("append", r.append("py:k", "xyz"), 4)
check("strlen", r.strlen("py:k"), 4)
check("getrange", r.getrange("py:k", 1, 2), "xy")
check("setrange", r.setrange("py:k", 1, "AB"), 4)
check("get after setrange", r.get("py:k"), "wABz")
check("mset", r.mset({"py:a": "1", "py:b": "2", "py:c": "3"}), True)
check("mget", r.mget(["py:a", "py:b", "py:c", "py:none"]), ["1", "2", "3", None])
check("msetnx", r.msetnx({"py:a": "x", "py:z": "y"}), False)
check("exists", r.exists("py:a", "py:b", "py:none"), 2)
check("type", r.type("py:a"), "string")
check("rename", r.rename("py:a", "py:a2"), True)
check("renamenx", r.renamenx("py:b", "py:c"), False)
check("copy", r.copy("py:c", "py:c2"), True)
check("getdel", r.getdel("py:c2"), "3")
check("getex", r.getex("py:c", ex=200), "3")
check("ttl getex", r.ttl("py:c"), 200)
check("expire nx", r.expire("py:c", 10, nx=True), False)
check("expire gt", r.expire("py:c", 300, gt=True), True)
check("lcs", r.execute_command("LCS", "py:a2", "py:a2"), "1")
check("delete", r.delete("py:a2", "py:none"), 1)
check("keys", sorted(r.keys("py:[ab]*")), ["py:b"])
# What the session has left: each check names it, so a server wrong the same way in all of them is still caught.
left = ["py:b", "py:c", "py:e", "py:f", "py:k", "py:n"]
check("keys all", sorted(r.keys("*")), left)
check("scan_iter", sorted(r.scan_iter(match="py:*", count=3)), left)
check("dbsize", r.dbsize(), len(left))
check("randomkey", r.randomkey() in left, True)
check("object encoding", r.object("encoding", "py:n"), "int")
check("client setname", r.client_setname("pyclient"), True)
check("client getname", r.client_getname(), "pyclient")
check("client id", isinstance(r.client_id(), int), True)
check("client list", any(c["name"] == "pyclient" for c in r.client_list()), True)
info = r.info()
check("info version", info["redis_version"], "7.0.15")
check("info keyspace", info["db0"]["keys"], len(left))
# maxclients defaults to 10000 but is fitted to the machine's open files limit, so set a value that fits anywhere,
# then put back the server's own (the server is shared with other tests).
original = r.config_get("maxclients")["maxclients"]
check("config set", r.config_set("maxclients", "200"), True)
check("config get", r.config_get("maxclients"), {"maxclients": "200"})
check("config set back", r.config_set("maxclients", original), True)
check("select", r.execute_command("SELECT", 3), True)
check("select db 3 is empty", r.get("py:k"), None)
check("select back", r.execute_command("SELECT", 0), True)
check("time", len(r.time()), 2)
check("echo", r.echo("hi"), "hi")

# Pipelines: transaction=False sends one batch; replies come back in order.
pipe = r.pipeline(transaction=False)
for i in range(200):
    pipe.set(f"py:p:{i}", i)
    pipe.get(f"py:p:{i}")
results = pipe.execute()
check("pipeline", results, [x for i in range(200) for x in (True, str(i))])

# Errors surface as redis-py exceptions with Redis's text.
try:
    r.execute_command("INCR", "py:k")
    check("incr error raised", False, True)
except redis.ResponseError as e:
    check("incr error", str(e), "value is not an integer or out of range")

try:
    r.execute_command("NOSUCHCMD")
    check("unknown raised", False, True)
except redis.ResponseError as e:
    check("unknown", str(e).startswith("unknown command 'NOSUCHCMD'"), True)

# Expiry really happens.
r.set("py:short", "x", px=100)
time.sleep(0.3)
check("expired", r.get("py:short"), None)

print("redis-py session OK")
