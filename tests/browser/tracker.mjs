// A WebTorrent WebSocket tracker (bittorrent-tracker's server) on 127.0.0.1, for the browser
// tests until `p2pml tracker` replaces it. Prints its ws:// URL on stdout, then serves until killed.
// Usage: node tests/browser/tracker.mjs [port]   (0 or nothing: any free port)
import Server from "bittorrent-tracker/server";

const port = Number(process.argv[2] ?? 0);
const server = new Server({ udp: false, http: false, ws: true, stats: false, trackerOptions: {} });
server.on("error", (e) => {
  console.error(`tracker error: ${e.message}`);
  process.exit(1);
});
server.on("warning", (e) => console.error(`tracker warning: ${e.message}`));
server.listen(port, "127.0.0.1", () => {
  const { port: bound } = server.ws.address();
  console.log(`ws://127.0.0.1:${bound}`);
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
