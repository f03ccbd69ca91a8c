// A scripted session through the real ioredis client. Usage: node ioredis_session.js PORT
"use strict";
const Redis = require("ioredis");
const { check } = require("./check");

const port = Number(process.argv[2]);

async function main() {
  const r = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 1, enableOfflineQueue: true });
  check("ping", await r.ping(), "PONG");
  await r.flushall();
  check("set", await r.set("io:k", "v"), "OK");
  check("get", await r.get("io:k"), "v");
  check("set nx", await r.set("io:k", "w", "NX"), null);
  check("set ex", await r.set("io:e", "1", "EX", 100), "OK");
  check("ttl", await r.ttl("io:e"), 100);
  check("incr", await r.incr("io:n"), 1);
  check("incrbyfloat", await r.incrbyfloat("io:f", "0.1"), "0.1");
  check("mset", await r.mset("io:a", "1", "io:b", "2", "io:c", "3"), "OK");
  check("mget", await r.mget("io:a", "io:b", "io:c", "io:none"), ["1", "2", "3", null]);
  check("del", await r.del("io:a", "io:b", "io:none"), 2);
  check("exists", await r.exists("io:c"), 1);
  check("rename", await r.rename("io:c", "io:c2"), "OK");
  check("type", await r.type("io:c2"), "string");
  check("append", await r.append("io:k", "xyz"), 4);
  check("getrange", await r.getrange("io:k", 0, 1), "vx");
  check("expire", await r.expire("io:k", 50), 1);
  check("persist", await r.persist("io:k"), 1);
  check("dbsize", await r.dbsize(), 5);
  check("keys", (await r.keys("io:*")).sort(), ["io:c2", "io:e", "io:f", "io:k", "io:n"]);

  // ioredis pipelines write every command at once; replies must come back in order.
  const pipe = r.pipeline();
  for (let i = 0; i < 300; i++) {
    pipe.set(`io:p:${i}`, String(i));
    pipe.get(`io:p:${i}`);
  }
  const results = await pipe.exec();
  check("pipeline errors", results.filter(([err]) => err).length, 0);
  check("pipeline values", results.map(([, v]) => v).slice(0, 4), ["OK", "0", "OK", "1"]);
  check("pipeline last", results[results.length - 1][1], "299");

  // scanStream walks every shard's cursor to the end.
  const seen = new Set();
  await new Promise((resolve, reject) => {
    r.scanStream({ match: "io:p:*", count: 50 })
      .on("data", (keys) => keys.forEach((k) => seen.add(k)))
      .on("end", resolve)
      .on("error", reject);
  });
  check("scanStream", seen.size, 300);

  try {
    await r.incr("io:k");
    check("incr error raised", false, true);
  } catch (e) {
    check("incr error", e.message, "ERR value is not an integer or out of range");
  }

  check("client setname", await r.client("SETNAME", "ioclient"), "OK");
  check("client getname", await r.client("GETNAME"), "ioclient");
  const info = await r.info("keyspace");
  check("info", info.includes("db0:keys="), true);
  await r.quit();
  console.log("ioredis session OK");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
