"""The community simulator: seeded, deterministic months of Web3 community history on anvil chains.

    from infra.simulator import simulate
    deployment = simulate(["http://127.0.0.1:8545", "http://127.0.0.1:8546"], wallets=2000, days=180, seed=7,
                          out=Path(".state/deployment.json"))

`deployment.personas` is the ground truth (persona -> wallets) later tests check labels and churn
against; `infra.simulator.txs` holds the fast batch sender other tests reuse.
"""

from infra.simulator.model import ChainDeployment, Deployment, Summary
from infra.simulator.run import Progress, SimulationError, simulate, validate_size

__all__ = [
    "ChainDeployment",
    "Deployment",
    "Progress",
    "SimulationError",
    "Summary",
    "simulate",
    "validate_size",
]
