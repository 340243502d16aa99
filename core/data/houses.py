"""Synthetic house prices with realistic raw scales, and the bad records a real file would hold.

The features keep their natural units (square feet in thousands, years near 2000), so the
normalisation lesson has something to fix; the price is a smooth nonlinear function of them
with multiplicative noise, in units of $100,000 (a typical target is 1-10).

Clean prices are kept within [0.5, 25] ($50k-$2.5M), inside the cleaning rule's plausible
range [0.25, 40]; a price typo of x100 therefore always lands far outside it (>= 50), which
makes the data-cleaning lesson's effect robust on every seed.
"""

from __future__ import annotations

import numpy as np

from .records import Rule, Table

FEATURES = ("sqft", "bedrooms", "bathrooms", "year_built", "lot_sqft", "distance_km")
TARGET = "price_100k"
SQFT, BEDROOMS, BATHROOMS, YEAR_BUILT, LOT_SQFT, DISTANCE_KM = range(len(FEATURES))
CURRENT_YEAR = 2025
CLEAN_PRICE = (0.5, 25.0)

# What cleaning checks (missing values are always checked as well).
RULES = (
    Rule("bedrooms", 1, 10),
    Rule("year_built", 1800, CURRENT_YEAR),
    Rule(TARGET, 0.25, 40.0),
)

# One bad record gets exactly one of these, in turn, so each breaks exactly one rule.
CORRUPTIONS = ("zero bedrooms", "future year", "price x100", "price <= 0", "missing value")


def _price(x: np.ndarray) -> np.ndarray:
    """Price in $100k before noise: size and lot value, times location and age factors."""
    value = (1.4 * (x[:, SQFT] / 1000) ** 0.9 + 0.1 * x[:, BEDROOMS] + 0.2 * x[:, BATHROOMS]
             + 0.35 * np.sqrt(x[:, LOT_SQFT] / 5000))
    location = 0.6 + 1.4 * np.exp(-x[:, DISTANCE_KM] / 10)     # central houses cost up to 2x
    age = CURRENT_YEAR - x[:, YEAR_BUILT]
    condition = 1.0 - 0.25 * age / (age + 30)                  # older houses up to ~20% cheaper
    return value * location * condition


def generate_houses(n: int, noise: float, rng: np.random.Generator) -> Table:
    """n clean houses; ``noise`` is the standard deviation of the log price."""
    sqft = np.clip(rng.lognormal(np.log(1800), 0.4, n), 500, 5000)
    bedrooms = np.clip(np.round(sqft / 650 + rng.normal(0, 0.6, n)), 1, 6)
    bathrooms = np.clip(np.round(2 * (0.4 * bedrooms + 0.3 + rng.normal(0, 0.35, n))) / 2, 1, 4)
    year_built = rng.integers(1900, CURRENT_YEAR + 1, n).astype(np.float64)
    distance_km = np.clip(rng.gamma(2.0, 5.0, n), 0.5, 50)
    lot_sqft = np.round(np.clip(3000 * np.exp(distance_km / 25) * rng.lognormal(0, 0.35, n), 1000, 50000))
    x = np.column_stack([sqft.round(), bedrooms, bathrooms, year_built, lot_sqft, distance_km.round(1)])
    price = np.clip(_price(x) * np.exp(rng.normal(0, noise, n)), *CLEAN_PRICE)
    return Table(x, price, FEATURES, TARGET, "regression", 1, RULES)


def inject_bad_records(x: np.ndarray, y: np.ndarray, fraction: float,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Copies of (x, y) with round(fraction * n) records corrupted, one CORRUPTIONS kind each."""
    x, y = x.copy(), y.copy()
    rows = rng.choice(len(y), round(fraction * len(y)), replace=False)
    zero_bedrooms, future_year, price_x100, price_not_positive, missing = (
        rows[kind::len(CORRUPTIONS)] for kind in range(len(CORRUPTIONS)))
    x[zero_bedrooms, BEDROOMS] = 0
    x[future_year, YEAR_BUILT] = rng.integers(CURRENT_YEAR + 5, 2100, len(future_year))
    y[price_x100] *= 100
    y[price_not_positive] = np.where(rng.random(len(price_not_positive)) < 0.5, 0.0, -y[price_not_positive])
    x[missing, rng.integers(0, len(FEATURES), len(missing))] = np.nan
    return x, y
