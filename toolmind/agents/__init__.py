"""The three simulation agents of seed 002 (user, assistant, tool) and the loop that runs them."""

from toolmind.agents.common import Reject, stage_rng
from toolmind.agents.simulation import SimulationSettings, simulate

__all__ = ["Reject", "SimulationSettings", "simulate", "stage_rng"]
