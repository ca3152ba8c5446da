// Preloaded with `node --require` (or NODE_OPTIONS=--require ...): every server that
// listens without naming a host binds to 127.0.0.1 (or LISTEN_HOST) instead of all
// interfaces. The Microsoft 365 Agents Playground calls `server.listen(port, cb)` and has
// no option of its own for the address.
"use strict";
const net = require("net");

const host = process.env.LISTEN_HOST || "127.0.0.1";
const originalListen = net.Server.prototype.listen;

function isPort(value) {
  return typeof value === "number" || (typeof value === "string" && /^\d+$/.test(value));
}

net.Server.prototype.listen = function listen(...args) {
  const first = args[0];
  if (args.length === 0 || typeof first === "function") {
    args.unshift(0, host);
  } else if (isPort(first)) {
    if (typeof args[1] !== "string") args.splice(1, 0, host);
  } else if (
    first !== null &&
    typeof first === "object" &&
    first.path === undefined &&
    first.fd === undefined &&
    first.handle === undefined &&
    first._handle === undefined &&
    first.host === undefined
  ) {
    args[0] = { ...first, host };
  }
  return originalListen.apply(this, args);
};
