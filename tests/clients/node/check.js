// What the Node.js client sessions share: one comparison that ends the session on the first mismatch.
"use strict";

function check(label, actual, expected) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) {
    console.error(`FAIL ${label}: expected ${e}, got ${a}`);
    process.exit(1);
  }
}

module.exports = { check };
