// Reads a solc standard-JSON input on stdin and writes solc's standard-JSON output on stdout.
// solcjs (npm "solc") compiles offline: no native solc download is needed.
const solc = require("solc");
let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => process.stdout.write(solc.compile(input)));
