// A Socket.IO client as the old Node front-ends used it, driven by tests/test_socketio_node.py.
// argv: URL TOKEN [transport]. Prints one JSON line per thing it saw; reads commands on stdin:
// `join CODE` emits join_client_room and prints the ack; `quit` disconnects and exits.
import { io } from "socket.io-client";
import readline from "node:readline";

const [url, token, transport] = process.argv.slice(2);
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const socket = io(url, {
  auth: { token },
  reconnection: false,
  transports: transport ? [transport] : ["polling", "websocket"],
});

socket.on("connect", () => say({ type: "connected", transport: socket.io.engine.transport.name }));
socket.on("connect_error", (err) => {
  say({ type: "connect_error", message: err.message, data: err.data ?? null });
  process.exit(0);
});
socket.on("disconnect", (reason) => say({ type: "disconnect", reason }));
socket.onAny((name, data) => say({ type: "event", name, data }));

readline.createInterface({ input: process.stdin }).on("line", async (line) => {
  const [cmd, arg] = line.trim().split(" ");
  if (cmd === "join") {
    const ack = await socket.timeout(5000).emitWithAck("join_client_room", arg);
    say({ type: "ack", code: arg, ack });
  } else if (cmd === "quit") {
    socket.disconnect();
    process.exit(0);
  }
});
