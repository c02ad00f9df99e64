"""How real photo sessions vary beyond a person's pose: the room (shared by several persons, or a
second room for a few photos), the light of each session and photo (exposure, white balance),
the camera (mirrored selfies, framing, JPEG quality, sensor noise). Every nuisance draws from its
own random stream, so switching one off (0 / False) leaves every other draw as it was, and with
all of them off the photos are those of a generator without them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.labels import STEMS
from pipeline.data.synth.persons import SPLIT_CODES, Person, rng_for

ROOM_PERSONS = 3  # persons per shared room (an office, a family home, a collection site)
SECOND_ROOM_PHOTOS = (1, 3)  # photos a person took elsewhere: 1-3 of the 7
MAX_QUALITY = 95

# stream numbers under rng_for(seed, split, index, 5, <nuisance>, ...)
_MIRROR, _EXPOSURE, _BALANCE, _FRAMING, _JPEG, _SENSOR = range(1, 7)


@dataclass(frozen=True)
class Nuisance:
    """The strengths of the per-photo nuisances (0 / False = off)."""

    mirror: float = 0.25  # probability a photo is mirrored (front camera, selfie)
    exposure: float = 0.3  # sd in stops of a session's light and, halved, of each photo's
    white_balance: float = 0.08  # sd of the log red/blue ratio: session, and halved per photo
    framing: float = 1.0  # 1 = hand-held: scale sd 8 %, offset sd 4 % / 3 %, roll sd 3 degrees
    jpeg_quality: int = 60  # lowest JPEG quality a photo is saved at (up to 95); 0 = the person's
    sensor_noise: float = 3.0  # sd of per-pixel colour noise in 8-bit levels

    def __post_init__(self) -> None:
        if not 0 <= self.mirror <= 1:
            raise ValueError(f"mirror must be a probability, got {self.mirror}")
        for name in ("exposure", "white_balance", "framing", "sensor_noise"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.jpeg_quality <= MAX_QUALITY:
            raise ValueError(f"jpeg_quality must be 0 (off) or up to {MAX_QUALITY}, got {self.jpeg_quality}")


OFF = Nuisance(0.0, 0.0, 0.0, 0.0, 0, 0.0)


@dataclass(frozen=True)
class Shot:
    """What one photo varies beyond the pose jitter of `render_photo`; the defaults change nothing."""

    room: int | None = None  # scene seed of the room; None = the person's own (look.scene_seed)
    mirrored: bool = False
    ev: float = 0.0  # exposure change in stops
    wb: float = 0.0  # log red/blue ratio change (warm > 0)
    scale: float = 1.0
    roll: float = 0.0  # degrees
    shift: tuple[float, float] = (0.0, 0.0)  # fractions of width and height
    quality: int = 0  # JPEG quality; 0 = the person's
    noise: float = 0.0  # sd of colour noise, 8-bit levels
    noise_seed: int = 0


@dataclass(frozen=True)
class Rooms:
    """Where a person's photos were taken: `room` for all of them (None = their own room) except
    `second` (a room seed) for the stems in `elsewhere`."""

    room: int | None = None
    second: int | None = None
    elsewhere: tuple[str, ...] = field(default=())

    def of(self, stem: str) -> int | None:
        return self.second if stem in self.elsewhere else self.room


def assign_rooms(persons: list[Person], *, seed: int, shared_rooms: float,
                 second_room: float) -> list[Rooms]:
    """round(shared_rooms * n) persons of one split photographed in rooms of ROOM_PERSONS persons
    each (a remainder joins the last room), and round(second_room * n) persons (drawn on their own
    stream) who took 1-3 photos in another room."""
    if not (0 <= shared_rooms <= 1 and 0 <= second_room <= 1):
        raise ValueError("shared_rooms and second_room must be in [0, 1]")
    n = len(persons)
    if not n:
        return []
    code = SPLIT_CODES[persons[0].split]
    room: list[int | None] = [None] * n
    n_shared = round(shared_rooms * n)
    if n_shared >= 2:
        rng = np.random.default_rng([seed, 7951, code])
        chosen = rng.permutation(n)[:n_shared]
        n_rooms = max(1, n_shared // ROOM_PERSONS)
        seeds = rng.integers(2**31, size=n_rooms)
        for k, i in enumerate(chosen):
            room[i] = int(seeds[min(k // ROOM_PERSONS, n_rooms - 1)])
    out = [Rooms(r) for r in room]
    n_second = round(second_room * n)
    if n_second:
        rng = np.random.default_rng([seed, 7953, code])
        for i in rng.permutation(n)[:n_second]:
            k = int(rng.integers(SECOND_ROOM_PHOTOS[0], SECOND_ROOM_PHOTOS[1] + 1))
            stems = tuple(STEMS[j] for j in sorted(rng.choice(len(STEMS), k, replace=False)))
            out[i] = Rooms(room[i], int(rng.integers(2**31)), stems)
    return out


def sample_shots(person: Person, seed: int, nuisance: Nuisance, rooms: Rooms = Rooms()
                 ) -> dict[str, Shot]:
    """Per stem, how the photo varies: a session's light (one per room the person was in) plus
    each photo's own, the camera's mirroring, framing, JPEG quality and noise."""
    def stream(kind: int, *rest: int) -> np.random.Generator:
        return rng_for(seed, person.split, person.index, 5, kind, *rest)

    nu, k = nuisance, len(STEMS)
    slot = [int(stem in rooms.elsewhere) for stem in STEMS]  # 0: main room, 1: the second
    mirrored = stream(_MIRROR).random(k) < nu.mirror if nu.mirror else np.zeros(k, bool)
    ev = np.zeros(k)
    if nu.exposure:
        r = stream(_EXPOSURE)
        session, photo = r.normal(0, nu.exposure, 2), r.normal(0, nu.exposure / 2, k)
        ev = np.clip(session[slot] + photo, -1.5, 1.5)
    wb = np.zeros(k)
    if nu.white_balance:
        r = stream(_BALANCE)
        session, photo = r.normal(0, nu.white_balance, 2), r.normal(0, nu.white_balance / 2, k)
        wb = np.clip(session[slot] + photo, -0.4, 0.4)
    scale, roll, shift = np.ones(k), np.zeros(k), np.zeros((k, 2))
    if nu.framing:
        r = stream(_FRAMING)
        scale = np.exp(np.clip(r.normal(0, 0.08 * nu.framing, k), -0.25, 0.25))
        roll = np.clip(r.normal(0, 3 * nu.framing, k), -8, 8)
        shift = np.clip(r.normal(0, 1, (k, 2)) * [0.04, 0.03] * nu.framing, -0.12, 0.12)
    quality = np.zeros(k, int)
    if nu.jpeg_quality:
        quality = stream(_JPEG).integers(nu.jpeg_quality, MAX_QUALITY + 1, k)
    noise, noise_seeds = np.zeros(k), np.zeros(k, int)
    if nu.sensor_noise:
        r = stream(_SENSOR)
        noise = nu.sensor_noise * r.uniform(0.4, 1.6, k)
        noise_seeds = r.integers(2**31, size=k)
    return {stem: Shot(room=rooms.of(stem), mirrored=bool(mirrored[i]), ev=float(ev[i]), wb=float(wb[i]),
                       scale=float(scale[i]), roll=float(roll[i]),
                       shift=(float(shift[i, 0]), float(shift[i, 1])), quality=int(quality[i]),
                       noise=float(noise[i]), noise_seed=int(noise_seeds[i]))
            for i, stem in enumerate(STEMS)}
