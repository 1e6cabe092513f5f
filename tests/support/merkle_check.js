// Reads {"values": [[address, amount], ...], "dump": <Kith's standard-v1 dump>, "checks": [[address, amount, proof], ...]}
// on stdin and answers, with @openzeppelin/merkle-tree itself, what Kith's tree must agree with.
const { StandardMerkleTree } = require("@openzeppelin/merkle-tree");

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const request = JSON.parse(input);
  const built = StandardMerkleTree.of(request.values, ["address", "uint256"]);
  const loaded = StandardMerkleTree.load(request.dump);
  const verified = request.checks.map(([address, amount, proof]) =>
    StandardMerkleTree.verify(loaded.root, ["address", "uint256"], [address, amount], proof),
  );
  const proofs = request.values.map((value) => built.getProof(value));
  process.stdout.write(
    JSON.stringify({ builtRoot: built.root, loadedRoot: loaded.root, verified, proofs, dump: built.dump() }),
  );
});
