#!/usr/bin/env node
// Starts the in-memory Cosmos DB emulator (@vercel/cosmosdb-server) over HTTPS with its bundled
// self-signed certificate, for the visitrank Azure tests.
//
// Why the Node API rather than the `cosmosdb-server` CLI: without the `keepAlive` option the
// server answers every request with `Connection: close`, so the Python SDK opens a new TLS
// connection per request and tops out at ~30 requests/s. With it (and Nagle off) connections are
// reused and the test suite's upserts run at several hundred requests/s.
//
// Usage: node scripts/cosmos-emulator.js <port> [host]   (prints "cosmos-emulator listening")
"use strict";

// Load and patch the handler before the server module builds its route table from it.
const readDocument = require("@vercel/cosmosdb-server/lib/handler/read-document");

// Emulator bug (1.0.1): a point read of a missing document in a partitioned container
// dereferences `undefined` and answers 500 instead of 404. Real Cosmos DB answers 404
// NotFound, which is what the CRM read and our tests rely on, so translate exactly that case.
const originalRead = readDocument.default;
readDocument.default = (account, req, res, params) => {
  try {
    return originalRead(account, req, res, params);
  } catch (error) {
    if (error instanceof TypeError && /reading/.test(error.message)) {
      res.statusCode = 404;
      return {
        code: "NotFound",
        message: "Entity with the specified id does not exist in the system.",
      };
    }
    throw error;
  }
};

const { createHttpsServer } = require("@vercel/cosmosdb-server");

const port = Number(process.argv[2] || 8081);
const host = process.argv[3] || "127.0.0.1";
const server = createHttpsServer({ keepAlive: true });
server.keepAliveTimeout = 120000;
server.headersTimeout = 125000;
server.on("connection", (socket) => {
  socket.setNoDelay(true);
  socket.setKeepAlive(true);
});
server.listen(port, host, () => {
  console.log(`cosmos-emulator listening on https://${host}:${port}`);
});
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections(); // keep-alive sockets would otherwise hold close() open
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
