"""Who is in the synthetic dataset and what their labels say: persons drawn with the competition
data's statistics, the label noise put on the train split, and the issues beyond wrong labels
(duplicated persons, outlier and unusable photos) chosen on their own random streams."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.labels import DEFAULT_AGE_EDGES, GENDERS, STEMS


AGE_EDGES = DEFAULT_AGE_EDGES
NOISE_KINDS = ("none", "gender_flip", "mask_swap", "age_shift")
# label errors as people make them, kept in truth's issue_detail under the noise kind they score as
LABEL_ERRORS = {"near_edge": "age_shift", "digit_swap": "age_shift", "single_mask": "mask_swap"}
REFILE_DRIFTS = ("age_drift", "gender_drift")  # a re-filed copy's labels differ from the first filing
ISSUE_KINDS = ("duplicate_person", "outlier_image", "low_quality")  # beyond wrong labels
OUTLIER_KINDS = ("stranger", "no_face")
QUALITY_KINDS = ("dark", "overexposed", "blurred", "tiny")
HARD_KINDS = ("small", "dark", "occluded", "off_centre", "blurred")
SPLIT_CODES = {"train": 0, "eval": 1, "extra": 2}  # extra: strangers photographed into a folder


# Person statistics shaped like the competition data (2,700 persons): many under 30, a sparse
# 30s-40s, a heavy 50s with the 57/58/59 band at ~4/6/3 %, and ">= 60" holding only age 60 (~7 %).
_AGE_WEIGHTS = {
    **dict(zip(range(18, 30), (3, 6, 7, 5, 5, 4, 3, 3, 3, 3, 3, 2))),
    **{age: 0.6 for age in range(30, 50)},
    **{age: 3.0 for age in range(50, 57)},
    57: 4.0, 58: 6.0, 59: 3.0, 60: 7.0,
}
AGES = np.array(list(_AGE_WEIGHTS), dtype=int)
AGE_P = np.array(list(_AGE_WEIGHTS.values()), dtype=float) / sum(_AGE_WEIGHTS.values())
FEMALE_SHARE = 0.61
RACES = ("Asian", "White", "Black")
RACE_P = (0.96, 0.02, 0.02)
EXTS = ("jpg", "png", "jpeg")
EXT_P = (0.86, 0.07, 0.07)


@dataclass(frozen=True)
class Person:
    """Clean attributes of one synthetic person (no rendering state)."""

    split: str
    index: int
    person_id: str
    gender: int  # pipeline.labels.GENDERS index
    age: int
    race: str
    ext: str
    hard: str  # "" or one of HARD_KINDS
    image_ids: tuple[str, ...] = ()  # eval ImageIDs, one per stem; empty on train


def rng_for(seed: int, split: str, index: int, *stream: int) -> np.random.Generator:
    """Independent stream per (seed, split, person, purpose): persons render in any order."""
    return np.random.default_rng([seed, SPLIT_CODES[split], index, *stream])


def sample_person(seed: int, split: str, index: int, *, id_offset: int = 0,
                  hard_rate: float = 0.04) -> Person:
    """Draw the attributes of person `index` of `split`; ids are 1-based, 6 digits."""
    rng = rng_for(seed, split, index, 0)
    gender = int(rng.random() < FEMALE_SHARE)
    age = int(rng.choice(AGES, p=AGE_P))
    race = str(rng.choice(RACES, p=RACE_P))
    ext = str(rng.choice(EXTS, p=EXT_P)) if split == "train" else "jpg"
    hard = str(rng.choice(HARD_KINDS)) if rng.random() < hard_rate else ""
    image_ids = tuple(rng.bytes(20).hex() + ".jpg" for _ in STEMS) if split == "eval" else ()
    return Person(split, index, f"{id_offset + index + 1:06d}", gender, age, race, ext, hard,
                  image_ids)


def sample_persons(n: int, *, seed: int = 0, split: str = "train", id_offset: int = 0,
                   hard_rate: float = 0.04) -> list[Person]:
    return [sample_person(seed, split, i, id_offset=id_offset, hard_rate=hard_rate)
            for i in range(n)]


# ----------------------------------------------------------------------------- label noise


def shift_age(age: int, rng: np.random.Generator, edges=AGE_EDGES, years=(6, 15),
              lo: int = 18, hi: int = 60) -> int:
    """A given age on the other side of a bin edge, `years` (6-15) from the true age: the
    nearest edge first, then the other; where neither fits inside lo..hi (50-57 can only go up
    to 60) the farthest age across the nearest edge."""
    def crossing(edge: int, shifts: range) -> list[int]:
        if age < edge:
            return [age + d for d in shifts if edge <= age + d <= hi]
        return [age - d for d in shifts if lo <= age - d < edge]

    nearest = sorted(edges, key=lambda e: (abs(age - e), e))
    for edge in nearest:
        if options := crossing(edge, range(years[0], years[1] + 1)):
            return int(rng.choice(options))
    options = crossing(nearest[0], range(1, years[1] + 1))
    if not options:
        raise ValueError(f"cannot move age {age} across any of {edges}")
    return max(options, key=lambda given: abs(given - age))


@dataclass(frozen=True)
class Given:
    """The labels a person's folder name carries, and which noise made them differ."""

    gender: int
    age: int
    noise: str  # person-level kind: none | gender_flip | age_shift | mask_swap
    detail: str = ""  # the label error (LABEL_ERRORS) or a re-filed copy's drift (REFILE_DRIFTS)


def assign_noise(persons: list[Person], *, seed: int, gender_noise: float, swap_noise: float,
                 age_noise: float, age_edges=AGE_EDGES) -> list[Given]:
    """Disjoint person sets with round(rate * n) persons each get one kind of noise."""
    n = len(persons)
    counts = [round(r * n) for r in (gender_noise, age_noise, swap_noise)]
    if any(not 0 <= r <= 1 for r in (gender_noise, age_noise, swap_noise)) or sum(counts) > n:
        raise ValueError("noise rates must be in [0, 1] and sum to at most 1")
    rng = np.random.default_rng([seed, 7919])
    order = rng.permutation(n)
    kinds = np.full(n, "none", dtype=object)
    start = 0
    for kind, count in zip(("gender_flip", "age_shift", "mask_swap"), counts):
        kinds[order[start:start + count]] = kind
        start += count
    given = []
    for p, kind in zip(persons, kinds):
        gender = 1 - p.gender if kind == "gender_flip" else p.gender
        age = shift_age(p.age, rng, age_edges) if kind == "age_shift" else p.age
        given.append(Given(gender, age, str(kind)))
    return given


@dataclass(frozen=True)
class Issues:
    """Problems beyond wrong labels, drawn from their own random streams (the persons, looks,
    photos and label noise above are the same with or without them)."""

    duplicates: tuple[int, ...] = ()  # train index of each duplicated person (one new id each)
    images: tuple[tuple[int, str, str, str], ...] = ()  # (train index, stem, noise kind, detail)
    scene_seeds: tuple[int, ...] = ()  # the duplicate's new photo session (background)


def assign_issues(persons: list[Person], given: list[Given], *, seed: int, duplicate_noise: float,
                  outlier_noise: float, quality_noise: float) -> Issues:
    """round(duplicate_noise * persons) persons filed again under a new id, and
    round(rate * images) outlier / low-quality images, at most one per person. All are drawn
    among persons without label noise and not photographed hard, in disjoint sets."""
    n, k = len(persons), len(STEMS)
    rates = (duplicate_noise, outlier_noise, quality_noise)
    if any(not 0 <= r <= 1 for r in rates):
        raise ValueError("duplicate, outlier and quality noise must be in [0, 1]")
    n_dup, n_out, n_low = round(duplicate_noise * n), round(outlier_noise * n * k), \
        round(quality_noise * n * k)
    pool = [i for i, (p, g) in enumerate(zip(persons, given)) if g.noise == "none" and not p.hard]
    if n_dup + n_out + n_low > len(pool):
        raise ValueError(f"{n_dup + n_out + n_low} duplicated/outlier/low-quality persons wanted, "
                         f"only {len(pool)} clean persons: lower the rates")
    rng = np.random.default_rng([seed, 7927])
    chosen = [pool[i] for i in rng.permutation(len(pool))[:n_dup + n_out + n_low]]
    dup, out, low = chosen[:n_dup], chosen[n_dup:n_dup + n_out], chosen[n_dup + n_out:]
    images = [(i, str(rng.choice(STEMS)), "outlier_image", str(rng.choice(OUTLIER_KINDS)))
              for i in out]
    images += [(i, str(rng.choice(STEMS)), "low_quality", str(rng.choice(QUALITY_KINDS)))
               for i in low]
    return Issues(tuple(int(i) for i in dup), tuple(sorted(images)),
                  tuple(int(s) for s in rng.integers(2**31, size=n_dup)))



def near_edge_ages(age: int, edges=AGE_EDGES, lo: int = 18, hi: int = 60) -> list[int]:
    """Given ages 1-3 years from `age` on the other side of the nearest bin edge it can cross."""
    for edge in sorted(edges, key=lambda e: (abs(age - e), e)):
        options = [age + d for d in (1, 2, 3) if age < edge <= age + d <= hi] + \
                  [age - d for d in (1, 2, 3) if lo <= age - d < edge <= age]
        if options:
            return options
    return []


def digit_swap(age: int, edges=AGE_EDGES, lo: int = 18, hi: int = 60) -> int | None:
    """`age` with its digits swapped (25 -> 52) where that is an age in lo..hi in another bin."""
    swapped = (age % 10) * 10 + age // 10
    if lo <= swapped <= hi and swapped != age and \
            np.searchsorted(edges, swapped, "right") != np.searchsorted(edges, age, "right"):
        return swapped
    return None


def assign_label_errors(persons: list[Person], given: list[Given], issues: Issues, *, seed: int,
                        age_near_noise: float, age_digit_noise: float, mask_photo_noise: float,
                        age_edges=AGE_EDGES) -> tuple[list[Given], dict[int, tuple[str, int]]]:
    """Label errors as people make them, on their own stream among persons without other noise
    or issues (so the persons, label noise and issues above stay as they are): round(rate * n)
    persons each with an age 1-3 years across an edge (`near_edge`), an age with its digits
    swapped (`digit_swap`), one photo in another mask state than its name says (`single_mask`,
    returned as train index -> (stem, true mask state))."""
    n = len(persons)
    rates = (age_near_noise, age_digit_noise, mask_photo_noise)
    if any(not 0 <= r <= 1 for r in rates):
        raise ValueError("age_near_noise, age_digit_noise and mask_photo_noise must be in [0, 1]")
    counts = [round(r * n) for r in rates]
    busy = set(issues.duplicates) | {i for i, *_ in issues.images}
    pool = [i for i, (p, g) in enumerate(zip(persons, given))
            if g.noise == "none" and not p.hard and i not in busy]
    rng = np.random.default_rng([seed, 7933])
    order = [pool[i] for i in rng.permutation(len(pool))]
    given, singles, taken = list(given), {}, set()
    eligible = (lambda i: near_edge_ages(persons[i].age, age_edges),
                lambda i: digit_swap(persons[i].age, age_edges) is not None, lambda i: True)
    for detail, count, ok in zip(LABEL_ERRORS, counts, eligible):
        chosen = [i for i in order if i not in taken and ok(i)][:count]
        if len(chosen) < count:
            raise ValueError(f"{count} persons wanted for {detail} label errors, only {len(chosen)} "
                             "clean persons can take one: lower the rate")
        for i in chosen:
            taken.add(i)
            p, g = persons[i], given[i]
            if detail == "near_edge":
                given[i] = Given(g.gender, int(rng.choice(near_edge_ages(p.age, age_edges))), "age_shift", detail)
            elif detail == "digit_swap":
                given[i] = Given(g.gender, int(digit_swap(p.age, age_edges)), "age_shift", detail)
            else:
                stem = str(rng.choice(STEMS))
                named = 0 if stem.startswith("mask") else 1 if stem == "incorrect_mask" else 2
                singles[i] = (stem, int(rng.choice([m for m in (0, 1, 2) if m != named])))
    return given, singles


def drift_labels(given: Given, *, seed: int, copy: int, rate: float) -> Given:
    """A re-filed copy's labels: those of the first filing, or with probability `rate` an age a
    year or two off (2 in 3) or the other gender (its own stream per copy)."""
    if not 0 <= rate <= 1:
        raise ValueError(f"refile_drift must be in [0, 1], got {rate}")
    rng = np.random.default_rng([seed, 7963, copy])
    if not rate or rng.random() >= rate:
        return given
    if rng.random() < 1 / 3:
        return Given(1 - given.gender, given.age, given.noise, "gender_drift")
    step = int(rng.choice((-2, -1, 1, 2)))
    age = given.age + step if 18 <= given.age + step <= 60 else given.age - step
    return Given(given.gender, age, given.noise, "age_drift")


def folder_name(person: Person, given: Given) -> str:
    return f"{person.person_id}_{GENDERS[given.gender]}_{person.race}_{given.age}"


# ----------------------------------------------------------------------------- appearance
