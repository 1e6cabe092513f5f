// Evaluates IAM requests with @cloud-copilot/iam-simulate (a real evaluator of AWS's policy logic:
// Action, Resource and Condition, set operators included). Reads {"policies": [...], "requests": [...]}
// on stdin and prints one {"result", "errors"} per request.
const { runSimulation } = require("@cloud-copilot/iam-simulate");

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const identityPolicies = input.policies.map((policy, index) => ({ name: `p${index}`, policy }));
  const answers = [];
  for (const request of input.requests) {
    const response = await runSimulation(
      {
        identityPolicies,
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        resourcePolicy: undefined,
        permissionBoundaryPolicies: undefined,
        request: {
          principal: input.principal,
          action: request.action,
          resource: { resource: request.resource, accountId: input.account },
          contextVariables: request.context || {},
        },
      },
      {},
    );
    if (response.resultType === "error") {
      answers.push({ result: "Error", errors: response.errors });
    } else {
      answers.push({ result: response.overallResult });
    }
  }
  process.stdout.write(JSON.stringify(answers));
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error));
  process.exit(1);
});
