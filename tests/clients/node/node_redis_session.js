// A scripted session through the real node-redis client, under RESP2 and RESP3. Usage: node node_redis_session.js PORT
"use strict";
const { createClient } = require("redis");
const { check } = require("./check");

const port = Number(process.argv[2]);

async function session(resp) {
  const p = `nr${resp}:`;
  const r = createClient({ url: `redis://127.0.0.1:${port}`, RESP: resp, name: `node-redis-${resp}` });
  r.on("error", (e) => {
    console.error(`client error: ${e}`);
    process.exit(1);
  });
  await r.connect();
  check(`${p} ping`, await r.ping(), "PONG");
  check(`${p} client getname`, await r.clientGetName(), `node-redis-${resp}`);
  check(`${p} set`, await r.set(`${p}k`, "v"), "OK");
  check(`${p} get`, await r.get(`${p}k`), "v");
  check(`${p} set nx`, await r.set(`${p}k`, "w", { condition: "NX" }), null);
  check(`${p} set get`, await r.set(`${p}k`, "w", { GET: true }), "v");
  check(`${p} set ex`, await r.set(`${p}e`, "1", { expiration: { type: "EX", value: 100 } }), "OK");
  check(`${p} ttl`, await r.ttl(`${p}e`), 100);
  check(`${p} expiretime`, (await r.expireTime(`${p}e`)) > 1_700_000_000, true);
  check(`${p} incr`, await r.incr(`${p}n`), 1);
  check(`${p} incrby`, await r.incrBy(`${p}n`, 41), 42);
  check(`${p} incrbyfloat`, await r.incrByFloat(`${p}f`, 0.1), "0.1");
  check(`${p} mset`, await r.mSet([`${p}a`, "1", `${p}b`, "2", `${p}c`, "3"]), "OK");
  check(`${p} msetnx`, await r.mSetNX([`${p}a`, "9", `${p}z`, "9"]), 0);
  check(`${p} mget`, await r.mGet([`${p}a`, `${p}b`, `${p}c`, `${p}none`]), ["1", "2", "3", null]);
  check(`${p} exists`, await r.exists([`${p}a`, `${p}none`]), 1);
  check(`${p} del`, await r.del([`${p}a`, `${p}b`, `${p}none`]), 2);
  check(`${p} copy`, await r.copy(`${p}c`, `${p}c2`), 1);
  check(`${p} rename`, await r.rename(`${p}c`, `${p}c3`), "OK");
  check(`${p} type`, await r.type(`${p}c3`), "string");
  check(`${p} append`, await r.append(`${p}k`, "xyz"), 4);
  check(`${p} getrange`, await r.getRange(`${p}k`, 0, 1), "wx");
  check(`${p} setrange`, await r.setRange(`${p}k`, 1, "Y"), 4);
  check(`${p} strlen`, await r.strLen(`${p}k`), 4);
  check(`${p} lcs`, await r.lcs(`${p}k`, `${p}c3`), "");
  check(`${p} getdel`, await r.getDel(`${p}c2`), "3");
  check(`${p} expire`, await r.expire(`${p}k`, 50), 1);
  check(`${p} persist`, await r.persist(`${p}k`), 1);
  check(`${p} object encoding`, await r.objectEncoding(`${p}n`), "int");

  // Commands issued in the same tick go out as one write (auto-pipelining); replies must come back in order.
  const writes = [];
  for (let i = 0; i < 300; i++) {
    writes.push(r.set(`${p}p:${i}`, String(i)));
    writes.push(r.get(`${p}p:${i}`));
  }
  const results = await Promise.all(writes);
  check(`${p} pipeline first`, results.slice(0, 4), ["OK", "0", "OK", "1"]);
  check(`${p} pipeline last`, results[results.length - 1], "299");

  // scanIterator walks every shard's cursor to the end.
  const seen = new Set();
  for await (const keys of r.scanIterator({ MATCH: `${p}p:*`, COUNT: 50 })) {
    keys.forEach((k) => seen.add(k));
  }
  check(`${p} scanIterator`, seen.size, 300);

  try {
    await r.incr(`${p}k`);
    check(`${p} incr error raised`, false, true);
  } catch (e) {
    check(`${p} incr error`, e.message, "ERR value is not an integer or out of range");
  }

  const info = await r.info("keyspace");
  check(`${p} info`, info.includes("db0:keys="), true);
  check(`${p} dbsize`, (await r.dbSize()) >= 300, true);
  await r.close();
}

async function main() {
  const admin = createClient({ url: `redis://127.0.0.1:${port}` });
  await admin.connect();
  await admin.flushAll();
  await admin.close();
  await session(2);
  await session(3);
  console.log("node-redis session OK");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
