"""The epoch's shuffle is uniform: over many shuffles every element lands in every position, and
every order of a small set comes up, as often as chance says (a Fisher–Yates shuffle; Sattolo's
variant, a swap range one off, or a biased random number would not).

Chi-square statistics against a bound a uniform shuffle exceeds once in a million; the streams
are seeded, so every test draws the same shuffles each time and never flakes. On these seeds a
correct shuffle's statistics sit near their expected value (the degrees of freedom), well under
the bound; Sattolo's, which never leaves an element where it was, are hundreds of times over.
"""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest
from scipy.stats import chi2

from nnsim.core.streams import R_DROPOUT, R_SHUFFLE, next_uniform, shuffle

FALSE_ALARM = 1e-6          # the chance a uniform shuffle fails one test, were the seeds free
SEEDS = (0, 1, 2)


def streams(seed: int) -> np.ndarray:
    """Random-stream state for the shuffle, as a run seeds its own."""
    return np.random.SeedSequence(seed).generate_state(2, dtype=np.uint64)


def bound(degrees_of_freedom: int) -> float:
    return chi2.isf(FALSE_ALARM, degrees_of_freedom)


def chi_square(counts: np.ndarray) -> float:
    """Pearson's statistic of counts expected to be equal."""
    expected = counts.sum() / counts.size
    return float(((counts - expected) ** 2 / expected).sum())


def fresh_shuffles(n: int, draws: int, seed: int, shuffler=shuffle) -> np.ndarray:
    """``draws`` shuffles of 0..n-1, each from the identity, one stream throughout: (draws, n)."""
    state = streams(seed)
    orders = np.empty((draws, n), dtype=np.int64)
    for k in range(draws):
        order = np.arange(n)
        shuffler(order, state)
        orders[k] = order
    return orders


def position_counts(orders: np.ndarray) -> np.ndarray:
    """(n, n): how often element e was at position p."""
    draws, n = orders.shape
    counts = np.zeros((n, n), dtype=np.int64)
    np.add.at(counts, (np.tile(np.arange(n), draws), orders.ravel()), 1)
    return counts


def permutation_counts(orders: np.ndarray) -> np.ndarray:
    """How often each order of 0..n-1 came up, over every one of the n! orders."""
    index = {p: i for i, p in enumerate(permutations(range(orders.shape[1])))}
    counts = np.zeros(len(index), dtype=np.int64)
    for order in orders:
        counts[index[tuple(order)]] += 1
    return counts


@pytest.mark.parametrize("seed", SEEDS)
def test_the_streams_numbers_are_uniform_on_zero_to_one(seed):
    """What the shuffle (and dropout) draw from: every number in [0, 1), as many in each of 64
    equal bins as chance says, and each bit of the 53 as often 1 as 0 (a weak mixing step
    shows in its bits long before it shows in a shuffle)."""
    state = streams(seed)
    draws = np.array([next_uniform(state, R_SHUFFLE) for _ in range(64 * 500)])
    assert draws.min() >= 0.0 and draws.max() < 1.0
    assert chi_square(np.bincount((draws * 64).astype(np.int64), minlength=64)) < bound(63)
    bits = (draws * 2.0 ** 53).astype(np.uint64)
    ones = np.array([((bits >> np.uint64(b)) & np.uint64(1)).sum() for b in range(53)])
    zeros = len(draws) - ones
    assert max(chi_square(np.array([o, z])) for o, z in zip(ones, zeros)) < bound(1)


@pytest.mark.parametrize("n", [1, 2, 5, 16])
def test_a_shuffle_permutes_its_order_and_writes_nothing_beyond_it(n):
    """The kernel does not check its indices: a swap range one past the end would write into
    whatever lies beside the order (here, guard values that must stay as they were)."""
    state = streams(SEEDS[0])
    for _ in range(200):
        padded = np.full(n + 4, -1, dtype=np.int64)
        padded[2:-2] = np.arange(n)
        shuffle(padded[2:-2], state)
        assert sorted(padded[2:-2]) == list(range(n))
        assert (padded[:2] == -1).all() and (padded[-2:] == -1).all()


def splitmix64(state: int) -> tuple[int, float]:
    """Steele, Lea and Flood's SplitMix64 (as in Vigna's reference C code), on Python's
    integers: the next state, and the output's top 53 bits as a float in [0, 1)."""
    state = (state + 0x9E3779B97F4A7C15) % 2**64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
    z ^= z >> 31
    return state, (z >> 11) / 2**53


@pytest.mark.parametrize("seed", SEEDS)
def test_the_streams_are_splitmix64_and_each_keeps_its_own_state(seed):
    """Against an independent SplitMix64: a weaker mixing step (a shift the other way, an and
    for an xor, another multiplier) still passes the uniformity tests above, but correlates
    the draws that shuffles and dropout masks take one after another."""
    state = streams(seed)
    dropout_before = state[R_DROPOUT]
    reference = int(state[R_SHUFFLE])
    for _ in range(1000):
        reference, expected = splitmix64(reference)
        assert next_uniform(state, R_SHUFFLE) == expected
    assert int(state[R_SHUFFLE]) == reference and state[R_DROPOUT] == dropout_before


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_every_order_of_a_few_elements_is_equally_likely(n, seed):
    orders = fresh_shuffles(n, 500 * len(permutation_counts(np.arange(n)[None])), seed)
    counts = permutation_counts(orders)
    assert counts.min() > 0                         # every order comes up (Sattolo: only cycles)
    assert chi_square(counts) < bound(counts.size - 1)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [2, 7, 16])
def test_every_element_lands_in_every_position_equally_often(n, seed):
    counts = position_counts(fresh_shuffles(n, 400 * n, seed))
    assert counts.min() > 0                         # Sattolo never leaves one in place
    assert chi_square(counts) < bound((n - 1) ** 2)


def sattolo(order: np.ndarray, state: np.ndarray) -> None:
    """Sattolo's variant, the negative control: j < i, so the result is always one cycle."""
    for i in range(order.size - 1, 0, -1):
        j = int(next_uniform(state, R_SHUFFLE) * i)
        order[i], order[j] = order[j], order[i]


def test_the_same_statistics_reject_sattolos_variant_by_far():
    orders = fresh_shuffles(4, 500 * 24, SEEDS[0], sattolo)
    assert chi_square(permutation_counts(orders)) > 100 * bound(23)
    orders = fresh_shuffles(16, 400 * 16, SEEDS[0], sattolo)
    assert chi_square(position_counts(orders)) > 10 * bound(15 ** 2)
