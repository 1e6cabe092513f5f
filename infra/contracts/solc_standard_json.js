// Reads a solc standard-JSON input on stdin and writes solc's standard-JSON output on stdout.
// solcjs (npm "solc") compiles offline: no native solc download is needed. Imports such as
// "@openzeppelin/contracts/..." resolve against the project's node_modules.
const fs = require("fs");
const path = require("path");
const solc = require("solc");

function findImports(importPath) {
  try {
    return { contents: fs.readFileSync(require.resolve(importPath, { paths: [process.cwd()] }), "utf8") };
  } catch (error) {
    return { error: `import ${importPath} not found in node_modules` };
  }
}

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => process.stdout.write(solc.compile(input, { import: findImports })));
