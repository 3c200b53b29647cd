"""Realistic, seeded data of a Ukrainian distributor for the fakes, plus the demo's models of its customers: how they
answer a survey, and how often they buy again after it.

    from nps_dev.generator import generate, GeneratorConfig
    summary = generate(out_dir, GeneratorConfig(seed=7, customers=500, start=date(2026, 1, 5), days=77))

    from nps_dev.generator.responses import ResponseModel
    from nps_dev.generator.repurchase import RepurchaseModel
"""

from nps_dev.generator.core import GeneratorConfig, generate
from nps_dev.generator.regions import REGIONS, spellings

__all__ = ["REGIONS", "GeneratorConfig", "generate", "spellings"]
