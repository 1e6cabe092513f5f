// Evaluates IAM requests with @cloud-copilot/iam-simulate (a real evaluator of AWS's policy logic:
// Action, Resource and Condition, set operators included). Reads {"policies": [...], "requests": [...]}
// on stdin, each policy a document or {"name", "policy"}; or {"policySets": {set: [...]}, "requests":
// [...]} where each request names its "policySet" (one principal's policies each). Prints one answer per
// request: its result, the identity statements that allowed it ({"policy", "statement"}, 1-based), and
// any context keys the evaluator left out because they do not apply to the action.
const { runSimulation, getGrantReasons } = require("@cloud-copilot/iam-simulate");

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const named = (policies) =>
    policies.map((entry, index) =>
      entry.name !== undefined && entry.policy !== undefined ? entry : { name: `p${index}`, policy: entry },
    );
  const sets = {};
  for (const [name, policies] of Object.entries(input.policySets || { "": input.policies })) {
    sets[name] = named(policies);
  }
  const answers = [];
  for (const request of input.requests) {
    const response = await runSimulation(
      {
        identityPolicies: sets[request.policySet || ""],
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
    } else if (response.resultType === "single") {
      const grants = getGrantReasons(response.result.analysis)
        .filter((grant) => grant.policyType === "identity")
        .map((grant) => ({ policy: grant.policyIdentifier, statement: grant.statementIndex }));
      answers.push({
        result: response.overallResult,
        grants,
        ignored: response.result.ignoredContextKeys || [],
      });
    } else {
      answers.push({ result: response.overallResult, grants: [], ignored: [] });
    }
  }
  process.stdout.write(JSON.stringify(answers));
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error));
  process.exit(1);
});
