import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pipeline.curation import mixture
from pipeline.curation.issues import duplicates, evidence, find, outliers, quality
from pipeline import labels as L
from pipeline.data.synth import degrade, render_person, sample_person

STEMS = list(L.MASK_FILES)
SIZE = (96, 128)


def _persons(n: int, *, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """n real synthetic persons' seven photos, small."""
    return {f"{i + 1:06d}": render_person(sample_person(seed, "train", i), seed=seed, image_size=SIZE)
            for i in range(n)}


def _crop(photo: np.ndarray) -> np.ndarray:
    import cv2

    h, w = photo.shape[:2]
    return cv2.resize(photo[int(0.1 * h):int(0.1 * h) + w, :], (64, 64), interpolation=cv2.INTER_AREA)


def test_tail_mixture_recovers_a_planted_tail():
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(0, 1, 2000), rng.normal(9, 1.5, 40)])
    fit = mixture.fit_tail(z)
    assert 0.01 < fit.share < 0.04 and 7 < fit.mu < 11
    p = fit.posterior(z)
    assert (p[-40:] > 0.9).mean() > 0.95 and (p[:2000] > 0.5).mean() < 0.002
    assert (fit.posterior(np.array([-8.0])) == 0).all()  # the lower tail is never an issue
    below = np.array([fit.mu / 2 - 0.5])
    assert fit.posterior(below) == 0 and 0 < fit.posterior(below, cut=0.0) < 0.5  # the cut, and lowering it


def test_a_student_t_clean_component_takes_a_long_clean_tail_for_clean():
    """Clean evidence with a long tail (t, df 4) and 30 far issues: a normal clean component calls
    much of the clean tail an issue; a t of the same df keeps the issues and drops most of those,
    and P(issue) never falls as z grows (far out a t's tail is heavier than the issue normal's)."""
    rng = np.random.default_rng(1)
    z = np.r_[0.8 * rng.standard_t(4, 3000), rng.normal(9, 2, 30)]
    normal, heavy = mixture.fit_tail(z), mixture.fit_tail(z, df=4)
    p_normal, p_heavy = normal.posterior(z), heavy.posterior(z)
    assert (p_heavy[3000:] >= 0.5).mean() > 0.8
    assert (p_heavy[:3000] >= 0.5).sum() < 0.5 * (p_normal[:3000] >= 0.5).sum()
    grid = np.linspace(0, 200, 2001)
    assert (np.diff(heavy.posterior(grid)) >= 0).all() and heavy.posterior(grid)[-1] > 0.9
    np.testing.assert_array_equal(mixture.fit_tail(z, df=np.inf).posterior(z), p_normal)  # inf: the normal


def test_robust_z_within_groups():
    x = np.array([1.0, 2, 3, 100, 101, 102])
    z = mixture.robust_z(x, np.array([0, 0, 0, 1, 1, 1]))
    assert np.allclose(z[:3], z[3:]) and z[1] == 0


def test_embeddings_from_the_bundled_imagenet_weights():
    photos = _persons(2)
    crops = np.stack([_crop(photos["000001"]["mask1"]), _crop(photos["000001"]["mask1"]),
                      _crop(photos["000002"]["normal"])])
    e = evidence.embed_crops(crops, size=64)
    assert e.shape == (3, 1280) and np.allclose(np.linalg.norm(e, axis=1), 1)
    assert np.allclose(e[0], e[1]) and e[0] @ e[2] < 0.99


def _frame_of(photos: dict[str, dict[str, np.ndarray]]):
    ids = [(p, s) for p in photos for s in STEMS]
    frame = pd.DataFrame({"image_id": [f"{p}/{s}" for p, s in ids], "person_id": [p for p, _ in ids],
                          "method": "short", "face_width": 0.4})
    images = [photos[p][s] for p, s in ids]
    return frame, images


@pytest.fixture(scope="module")
def planted():
    """24 persons; 000025 is 000003 again (same session, new poses: the test's plain crops keep
    the background, which the pipeline's crops remove), 000007/mask2 is a stranger, 000011/mask4
    is made dark, 000015/normal blurred."""
    import dataclasses

    from pipeline.data.synth import outlier_photo, sample_look

    photos = _persons(24)
    original = sample_person(0, "train", 2)
    copy = dataclasses.replace(original, index=24, person_id="000025")
    look = sample_look(original, 0)
    photos["000025"] = render_person(copy, seed=0, image_size=SIZE, look=look)
    photos["000007"]["mask2"] = outlier_photo("stranger", 0, 0, 99, SIZE)
    rng = np.random.default_rng(1)
    photos["000011"]["mask4"] = degrade(photos["000011"]["mask4"], "dark", rng)
    photos["000015"]["normal"] = degrade(photos["000015"]["normal"], "blurred", rng)
    frame, images = _frame_of(photos)
    crops = np.stack([_crop(im) for im in images])
    features = evidence.embed_crops(crops, size=128)
    stats, scene = evidence.photo_evidence(images)
    issues = find.find_type_issues(frame, features, stats, grid=evidence.identity_grid(crops), scene=scene)
    scores = outliers.outlier_scores(features, frame["person_id"].to_numpy(), frame["image_id"].str[7:].to_numpy(),
                                     grid=evidence.identity_grid(crops), scene=scene)
    return {"issues": issues, "outliers": scores.assign(image_id=frame["image_id"]),
            "inputs": (frame, features, stats), "grids": (evidence.identity_grid(crops), scene)}


def test_identity_grid_leaves_out_the_mask_band():
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (1, 40, 40, 3), dtype=np.uint8)
    other_mask = crop.copy()
    other_mask[:, 18:32] = rng.integers(0, 256, (1, 14, 40, 3), dtype=np.uint8)  # 45 % to 80 %: the mask
    other_shirt = crop.copy()
    other_shirt[:, 34:] = 255 - other_shirt[:, 34:]
    grids = [evidence.identity_grid(c) for c in (crop, other_mask, other_shirt)]
    assert grids[0].shape == (1, 2 * 4 * 4 * 4)
    np.testing.assert_array_equal(grids[0], grids[1])       # another mask: the same person
    assert np.abs(grids[0] - grids[2]).max() > 0.1          # other clothes: not
    assert np.abs(evidence.colour_grid(crop) - evidence.colour_grid(other_mask)).max() > 0  # the whole crop's grid sees the mask


def test_planted_duplicate_is_found_with_the_other_id(planted):
    planted = planted["issues"]
    dup = planted[planted["field"] == "duplicate"]
    assert len(dup) >= 1
    top = dup.iloc[0]
    assert {top["person_id"], top["suggested"]} == {"000003", "000025"} and top["person_id"] == "000025"
    assert top["image_id"] == "*" and top["issue_id"] == "duplicate:000025" and top["score"] >= 0.5


def test_duplicates_compare_the_duplicate_features(planted):
    """`duplicate_features` (the stage passes the 192-px head) is what persons are matched on."""
    frame, features, stats = planted["inputs"]
    noise = evidence.unit(np.random.default_rng(0).normal(size=features.shape))

    def copies(**kw):
        issues = find.find_type_issues(frame, kw.pop("features"), stats, use_datalab=False, **kw)
        dup = issues[issues["field"] == "duplicate"]
        return set(zip(dup["person_id"], dup["suggested"]))

    pair = ("000025", "000003")
    assert pair in copies(features=noise, duplicate_features=features)
    assert pair not in copies(features=features, duplicate_features=noise)
    assert pair in copies(features=features)  # default: the features


def test_metadata_agreement_reads_a_slip_apart_from_another_person():
    """A second filing gets the gender or an age a year or two off wrong; another race or an age
    far off is another level."""
    a = pd.DataFrame({"gender": ["female", "female", "female", "male", "female", "female"],
                      "race": ["Asian"] * 6, "age": [30, 30, 30, 30, 30, 30]})
    b = a.assign(gender=["female", "female", "female", "female", "female", "female"],
                 race=["Asian", "Asian", "Asian", "Asian", "Black", "Asian"], age=[30, 32, 33, 31, 30, 52])
    def levels(x, y):
        return [duplicates.METADATA_LEVELS[i] for i in duplicates.metadata_agreement(x, y)]

    assert levels(a, b) == ["same", "slip", "other", "slip", "other", "other"]
    assert levels(a[["race"]], b[["race"]]) == ["same"] * 4 + ["other", "same"]


def test_metadata_ratio_against_the_share_of_the_pairs_that_share_it():
    """The chance that two persons agree is read from the pairs compared (each person and their
    look-alike), not from persons drawn at random; a slip is weaker evidence either way than the
    same metadata or another."""
    a = pd.DataFrame({"gender": ["f", "f", "m", "m", "f"], "age": [30, 30, 41, 52, 30]})
    b = pd.DataFrame({"gender": ["f", "m", "m", "f", "f"], "age": [30, 41, 41, 30, 31]})  # same, other, same, other, slip
    chance = np.array([3, 3, 3, 3, 2]) / 8  # add-one: (2 + 1, 2 + 1, 1 + 1) / (5 + 3)
    copy = np.array([0.9, 0.1 * (1 - duplicates.SLIP_SHARE), 0.9, 0.1 * (1 - duplicates.SLIP_SHARE),
                     0.1 * duplicates.SLIP_SHARE])
    level = duplicates.metadata_agreement(a, b)
    ratio = duplicates.metadata_ratio(level, agreement=0.9)
    np.testing.assert_allclose(ratio, copy / chance)
    assert ratio[0] > 1 > ratio[4] > ratio[1]
    assert (duplicates.metadata_ratio(level, agreement=0.0) == 1).all()  # off
    with pytest.raises(ValueError, match="agreement"):
        duplicates.metadata_ratio(level, agreement=1.0)


def test_ratio_test_p_values_are_uniform_for_points_spread_evenly():
    """TWO-NN: for points spread evenly (on a torus: no edges) with no copies among them, the
    ratio test's p-values are uniform whatever the dimension, so a copy is what stands out."""
    def torus(x):
        gap = np.abs(x[:, None] - x[None])
        d = (np.minimum(gap, 1 - gap) ** 2).sum(-1)
        np.fill_diagonal(d, np.inf)
        return d

    for dim in (4, 12):
        x = np.random.default_rng(dim).uniform(size=(2000, dim))
        p = duplicates.ratio_test(torus(x))[2]
        assert np.abs(np.quantile(p, [0.1, 0.5, 0.9]) - [0.1, 0.5, 0.9]).max() < 0.04
        x[1] = x[0] + 1e-4  # a copy
        best, _, p = duplicates.ratio_test(torus(x))
        assert best[0] == 1 and p[0] < 1e-6


def test_local_fdr_is_the_chance_of_a_null_at_that_p_value():
    """Nulls' p-values uniform, a few signals' near 0: among the p-values scored P(signal) >= 0.5
    the signals' share is what the scores say (within 0.1), and pure nulls score near 0."""
    rng = np.random.default_rng(0)
    nulls, signals = rng.uniform(size=3000), rng.uniform(size=150) ** 30
    p = np.concatenate([nulls, signals])
    signal = np.r_[np.zeros(len(nulls), bool), np.ones(len(signals), bool)]
    score = 1 - duplicates.local_fdr(p)
    hit = score >= 0.5
    assert hit.sum() >= 75 and abs(signal[hit].mean() - score[hit].mean()) < 0.1
    assert np.mean(1 - duplicates.local_fdr(nulls) < 0.2) > 0.99
    assert duplicates.local_fdr(p).min() >= 0 and duplicates.local_fdr(p).max() <= 1


def test_an_exact_copy_filed_under_another_id_is_found_without_datalab(planted):
    frame, features, stats = planted["inputs"]
    grid = planted["grids"][0]
    copy = frame[frame["person_id"] == "000010"].assign(
        person_id="000026", image_id=lambda f: "000026" + f["image_id"].str[6:])
    rows = np.flatnonzero(frame["person_id"] == "000010")
    issues = find.find_type_issues(pd.concat([frame, copy], ignore_index=True), np.vstack([features, features[rows]]),
                                   pd.concat([stats, stats.iloc[rows]], ignore_index=True),
                                   grid=np.vstack([grid, grid[rows]]))
    dup = issues[issues["field"] == "duplicate"].set_index("person_id")
    assert dup.loc["000026", "suggested"] == "000010" and dup.loc["000026", "score"] > 0.99


def test_with_ratio_is_bayes_on_the_odds_and_keeps_certainties():
    np.testing.assert_allclose(duplicates.with_ratio(np.array([0.5, 0.2, 0.0, 1.0]), np.array([3.0, 0.25, 100.0, 0.01])),
                               [0.75, 1 / 17, 0.0, 1.0])


def test_duplicate_metadata_weighs_the_pair_the_photos_proposed(planted):
    """The copy filed with its original's gender and age scores higher, with another age lower, an
    age a year off in between; persons whose nearest person is no nearer than the typical one
    (z <= 0) stay at 0 whatever their metadata."""
    frame, features, stats = planted["inputs"]
    persons = frame["person_id"].to_numpy()
    ages = {p: 20 + i for i, p in enumerate(sorted(set(persons)))}

    def score(copy_age=None, **kw):
        meta = None if copy_age is None else \
            pd.DataFrame({"gender": "female", "age": [copy_age if p == "000025" else ages[p] for p in persons]})
        dup = duplicates.duplicate_scores(features, persons, metadata=meta, **kw).set_index("person_id")
        return dup

    plain, same, other = score(), score(ages["000003"]), score(99)
    assert plain.loc["000025", "other"] == "000003" and 0 < plain.loc["000025", "score"] < 1
    assert same.loc["000025", "same_metadata"] and not other.loc["000025", "same_metadata"]
    assert other.loc["000025", "score"] < plain.loc["000025", "score"] < same.loc["000025", "score"]
    slip = score(ages["000003"] + 1)  # filed a year later: weaker than the same age, stronger than another
    assert other.loc["000025", "score"] < slip.loc["000025", "score"] < same.loc["000025", "score"]
    assert (same["score"][same["z"] <= 0] == 0).all() and (same["z"] <= 0).any()
    np.testing.assert_allclose(score(ages["000003"], agreement=0.0)["score"], plain["score"], rtol=1e-12)


def test_duplicate_detail_names_the_metadata_compared(planted):
    frame, features, stats = planted["inputs"]
    frame = frame.assign(gender="female", age=frame["person_id"].map(lambda p: 40 if p in ("000003", "000025")
                                                                     else int(p)))
    issues = find.find_type_issues(frame, features, stats, use_datalab=False)
    dup = issues[issues["field"] == "duplicate"].iloc[0]
    assert dup["person_id"] == "000025" and dup["detail"].endswith("; gender / age: female, 40 both)")


def test_planted_quality_issues_are_found_with_the_reason(planted):
    planted = planted["issues"]
    q = planted[(planted["field"] == "quality") & (planted["score"] >= 0.5)].set_index("image_id")
    assert q.loc["000011/mask4", "kind"] == "dark" and q.loc["000015/normal", "kind"] == "blurred"
    assert (q["suggested"] == "exclude").all()


def test_planted_stranger_ranks_first_among_the_persons_photos(planted):
    ranked = planted["outliers"].sort_values("z", ascending=False)
    clean = ~ranked["image_id"].isin(["000011/mask4", "000015/normal", "000007/mask2"])  # spoiled on purpose
    assert ranked.set_index("image_id").loc["000007/mask2", "z"] > ranked.loc[clean, "z"].max()
    out = planted["issues"]
    out = out[out["field"] == "outlier"]
    assert not out["image_id"].isin(["000011/mask4", "000015/normal"]).any()  # one type per image
    frame, features, _ = planted["inputs"]
    tail = outliers.outlier_scores(features, frame["person_id"].to_numpy(), frame["image_id"].str[7:].to_numpy(),
                                   grid=planted["grids"][0], scene=planted["grids"][1], model="tail")
    room = tail.set_index(frame["image_id"])["room"]  # the tail model's guard: the stranger brings another
    assert room["000007/mask2"] >= 0.5                 # room; the dark and the blurred photo were taken in
    assert room["000011/mask4"] < 0.5 and room["000015/normal"] < 0.5  # the person's own
    assert (ranked["room"] == 1).all()                 # made strangers need no guard


def test_detector_failures_are_listed_but_not_scored_as_unusable():
    """A fallback (no face found) and a face box three times the person's usual width (the
    detector took something else) are listed as quality rows for review, scored by the photo."""
    photos = _persons(12)
    frame, images = _frame_of(photos)
    frame.loc[3, "method"] = "centre"
    frame.loc[12, "face_width"] = 1.2
    crops = np.stack([_crop(im) for im in images])
    issues = find.find_type_issues(frame, evidence.embed_crops(crops, embedder="pixels"), evidence.image_stats(images),
                                use_datalab=False).set_index("image_id")
    fallback, box = issues.loc[frame.loc[3, "image_id"]], issues.loc[frame.loc[12, "image_id"]]
    assert fallback["field"] == "quality" and fallback["kind"] == "fallback" and "centre" in fallback["detail"]
    assert box["field"] == "quality" and box["kind"] == "face_box" and "face box 3 x" in box["detail"]
    assert fallback["score"] < 0.5 and box["score"] < 0.5
    assert quality.box_scores(frame["face_width"].to_numpy(), frame["person_id"].to_numpy())["score"][12] >= 0.5


def test_person_share_is_near_zero_for_an_empty_room(tmp_path):
    """mediapipe's bundled person segmenter finds the drawn person in a photo and nobody in an
    empty room (synth's `no_face` outlier), read from the files."""
    import cv2

    from pipeline.data.synth import outlier_photo

    person = _persons(1)["000001"]["normal"]
    empty = outlier_photo("no_face", 0, 0, 7, SIZE)
    paths = []
    for name, im in (("person", person), ("empty", empty)):
        paths.append(str(tmp_path / f"{name}.png"))
        cv2.imwrite(paths[-1], cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
    share = evidence.person_share(paths)
    assert share[0] > 0.1 and share[1] < outliers.NO_PERSON_SHARE
    assert evidence.person_share([]).shape == (0,)


def test_a_photo_with_no_face_and_nobody_in_it_is_an_outlier(planted):
    """No face found and no person segmented: an outlier at `no_person` (the made strangers are
    persons and cannot score it); no face found but a person there: a fallback row for review;
    `no_person` 0 scores both like any other photo."""
    frame, features, stats = planted["inputs"]
    frame = frame.copy()
    empty, missed = frame.index[frame["image_id"] == "000009/mask1"][0], frame.index[frame["image_id"] == "000010/mask3"][0]
    frame.loc[[empty, missed], "method"] = "person"
    stats = stats.assign(person_share=np.nan)
    stats.loc[empty, "person_share"], stats.loc[missed, "person_share"] = 0.0, 0.4
    grid, scene = planted["grids"]
    rows = find.find_type_issues(frame, features, stats, grid=grid, scene=scene).set_index("image_id")
    assert rows.loc["000009/mask1", "field"] == "outlier" and rows.loc["000009/mask1", "score"] >= 0.7
    assert "nobody" in rows.loc["000009/mask1", "detail"]
    assert rows.loc["000010/mask3", "field"] == "quality" and rows.loc["000010/mask3", "kind"] == "fallback"
    off = find.find_type_issues(frame, features, stats, grid=grid, scene=scene, no_person=0).set_index("image_id")
    assert off.loc["000009/mask1", "field"] == "quality" and off.loc["000009/mask1", "kind"] == "fallback"


def test_datalab_runs_on_the_features_and_joins_exact_copies_across_persons():
    rng = np.random.default_rng(0)
    f = evidence.unit(rng.normal(size=(40, 16)))
    f[39] = f[3]  # an exact copy of another person's photo
    lab = duplicates.datalab_issues(f, k=5)
    assert set(lab.columns) == {"near_duplicate_sets", "is_near_duplicate", "outlier_score"}
    assert 3 in lab.loc[39, "near_duplicate_sets"] and lab.loc[39, "is_near_duplicate"]


def test_bad_embedder_is_refused():
    with pytest.raises(ValueError, match="embedder"):
        evidence.embed_crops(np.zeros((1, 8, 8, 3), np.uint8), embedder="resnet")  # type: ignore[arg-type]


def test_unusable_images_are_outlier_and_quality_rows_at_the_threshold_and_detector_failures():
    from pipeline.curation.noise import unusable_images

    issues = pd.DataFrame({"field": ["outlier", "quality", "quality", "duplicate", "outlier", "quality"],
                           "image_id": ["a/mask1", "b/normal", "c/mask2", "*", "d/mask3", "f/mask1"],
                           "kind": ["outlier", "dark", "fallback", "duplicate", "outlier", "face_box"],
                           "score": [0.9, 0.5, 0.2, 0.99, 0.49, 0.1]})
    # c's fallback and f's odd face box, listed below the threshold, may not show the face
    assert unusable_images(issues, threshold=0.5) == {"a/mask1", "b/normal", "c/mask2", "f/mask1"}
    assert unusable_images(issues.drop(columns="kind"), threshold=0.5) == {"a/mask1", "b/normal"}
    assert unusable_images(issues.iloc[:0], threshold=0.5) == set()


def test_a_larger_separation_asks_for_evidence_further_out():
    rng = np.random.default_rng(0)
    z = np.r_[0.6 * rng.standard_t(3, 2000), np.linspace(6, 9, 10)]  # clean with a long tail; 10 far out
    loose, strict = mixture.tail_probability(z, separation=4), mixture.tail_probability(z, separation=8)
    assert (strict[2000:] >= 0.5).all() and (loose[2000:] >= 0.5).all()
    assert (strict[:2000] >= 0.5).sum() < (loose[:2000] >= 0.5).sum()


def test_crop_sharpness_drops_when_the_face_crop_is_blurred():
    import cv2

    crop = _crop(_persons(1)["000001"]["normal"])
    soft = cv2.GaussianBlur(crop, (0, 0), 2.0)
    sharp, blurred = evidence.crop_sharpness(np.stack([crop, soft]))
    assert sharp - blurred > 1.0  # log Laplacian variance


def test_a_blurred_face_in_a_sharp_photo_is_unusable_only_with_crop_sharpness():
    """synth's `tiny`: a small sharp figure pasted on a blurred scene keeps the photo's sharpness
    while the face crop the detector took is soft. A NaN crop sharpness (a fallback crop) is no evidence."""
    rng = np.random.default_rng(0)
    persons = np.repeat([f"{i:06d}" for i in range(40)], 7)
    stats = pd.DataFrame({"brightness": 120.0, "clipped": 0.0, "sharpness": 5.0}, index=range(len(persons)))
    crop = rng.normal(4, 0.2, len(persons))
    crop[10] -= 3.0  # that photo's face crop alone is soft
    without = quality.quality_scores(stats, persons)
    with_crop = quality.quality_scores(stats.assign(crop_sharpness=crop), persons)
    assert without["score"][10] < 0.5
    assert with_crop["score"][10] >= 0.9 and with_crop["reason"][10] == "blurred"
    assert (np.delete(with_crop["score"].to_numpy(), 10) < 0.5).all()
    no_face = crop.copy()
    no_face[10] = np.nan
    assert quality.quality_scores(stats.assign(crop_sharpness=no_face), persons)["score"][10] < 0.5


def test_tile_sharpness_sees_a_photo_blurred_around_a_small_sharp_figure():
    """synth's `tiny`: the whole photo's Laplacian variance keeps the small figure's edges; the
    median over tiles sees that most of the photo is soft."""
    import cv2

    photo = _persons(1)["000001"]["normal"]
    tiny = degrade(photo, "tiny", np.random.default_rng(0))
    gray = [cv2.resize(cv2.cvtColor(p, cv2.COLOR_RGB2GRAY), (192, 256), interpolation=cv2.INTER_AREA)
            for p in (photo, tiny)]
    whole = [evidence._sharpness(g) for g in gray]
    tiles = [evidence.tile_sharpness(g) for g in gray]
    assert tiles[0] - tiles[1] > 1.5 and tiles[0] - tiles[1] > 2 * (whole[0] - whole[1])
    assert evidence.photo_stats(tiny)["sharpness"] == pytest.approx(tiles[1])


def test_scene_grid_keeps_the_room_through_exposure_and_tells_rooms_apart():
    photos = _persons(6)
    grids = {p: evidence.scene_grid([photos[p][s] for s in STEMS]) for p in photos}
    within = [np.linalg.norm(g[i] - g[j]) for g in grids.values() for i in range(7) for j in range(i + 1, 7)]
    between = [np.linalg.norm(grids[p][i] - grids[q][i]) for p in grids for q in grids if p < q for i in range(7)]
    assert np.mean(within) < 0.5 * np.mean(between)  # one session, one room (the masks change)
    a = photos["000001"]["mask1"]
    dim = evidence.scene_grid([(a * 0.5).astype(np.uint8)])[0]
    assert np.linalg.norm(dim - grids["000001"][0]) < 0.25 * np.mean(within)  # exposure: the same room
    stats, scene = evidence.photo_evidence(iter([a, photos["000002"]["mask1"]]))  # one pass, a generator will do
    np.testing.assert_allclose(scene, [grids["000001"][0], grids["000002"][0]])
    pd.testing.assert_frame_equal(stats, evidence.image_stats([a, photos["000002"]["mask1"]]))


def test_a_bright_wall_is_not_an_overexposed_face():
    """Two photos as bright as overexposure makes them, among 40 persons' ordinary ones: one whose
    wall clips while its face crop is as the person's others (usable), one whose face is washed
    out as well. Without the crop's exposure both are flagged; with it only the washed-out face."""
    rng = np.random.default_rng(0)
    persons = np.repeat([f"{i:03d}" for i in range(40)], 7)
    n = len(persons)
    stats = pd.DataFrame({"brightness": rng.normal(120, 6, n), "clipped": np.abs(rng.normal(0, 0.003, n)),
                          "sharpness": rng.normal(5, 0.1, n),
                          "crop_brightness": rng.normal(110, 6, n), "crop_clipped": np.abs(rng.normal(0, 0.003, n))})
    wall, washed = 3, 10
    stats.loc[[wall, washed], ["brightness", "clipped"]] = [[215, 0.55], [225, 0.7]]
    stats.loc[washed, ["crop_brightness", "crop_clipped"]] = [235, 0.65]
    whole = quality.quality_scores(stats[["brightness", "clipped", "sharpness"]], persons)
    assert (whole["score"][[wall, washed]] >= 0.5).all() and (whole["reason"][[wall, washed]] == "overexposed").all()
    both = quality.quality_scores(stats, persons)
    assert both["score"][washed] >= 0.5 and both["reason"][washed] == "overexposed"
    assert both["score"][wall] < 0.5
    flagged = set(np.flatnonzero(both["score"] >= 0.5))
    assert flagged == {washed}
    unknown = stats.assign(crop_brightness=stats["crop_brightness"].where(stats.index != wall))  # no face crop
    assert quality.quality_scores(unknown, persons)["score"][wall] >= 0.5  # the whole photo decides


def test_crop_exposure_reads_brightness_and_clipped_share():
    crops = np.zeros((2, 8, 8, 3), np.uint8)
    crops[0, :4] = 255
    crops[1] = 100
    got = evidence.crop_exposure(crops)
    np.testing.assert_allclose(got["crop_clipped"], [0.5, 0.0])
    np.testing.assert_allclose(got["crop_brightness"], [127.5, 100], atol=0.5)


def test_crop_exposure_reads_the_face_box_apart_with_the_margin():
    """The face box of a margin-0.6 crop (`face_in_crop`): a clipped wall around it counts in the
    crop's figures, not in the face's."""
    from pipeline.faces.detect import face_in_crop

    crops = np.full((1, 44, 44, 3), 255, np.uint8)  # a clipped wall ...
    top, bottom, left, right = (int(round(v * 44)) for v in face_in_crop(0.6))
    crops[0, top:bottom, left:right] = 120  # ... around a face exposed as usual
    got = evidence.crop_exposure(crops, margin=0.6)
    assert got["crop_clipped"][0] > 0.7
    assert got["face_clipped"][0] < 0.05 and abs(got["face_brightness"][0] - 120) < 15
    assert list(evidence.crop_exposure(crops).columns) == ["crop_brightness", "crop_clipped"]


def test_a_kept_background_is_not_an_overexposed_face():
    """A crop whose background the segmenter kept: its wall clips in the whole photo and in the
    crop, the face box is as the person's others (usable). With the face box's exposure only the
    photo whose face is washed out too is flagged."""
    rng = np.random.default_rng(0)
    persons = np.repeat([f"{i:03d}" for i in range(40)], 7)
    n = len(persons)
    ordinary = lambda mean: {"brightness": rng.normal(mean, 6, n), "clipped": np.abs(rng.normal(0, 0.003, n))}  # noqa: E731
    stats = pd.DataFrame({**ordinary(120), "sharpness": rng.normal(5, 0.1, n)})
    crop, face = pd.DataFrame(ordinary(110)), pd.DataFrame(ordinary(130))
    stats = stats.assign(crop_brightness=crop["brightness"], crop_clipped=crop["clipped"],
                         face_brightness=face["brightness"], face_clipped=face["clipped"])
    kept, washed = 3, 10
    stats.loc[[kept, washed], ["brightness", "clipped", "crop_brightness", "crop_clipped"]] = [[215, 0.55, 220, 0.5],
                                                                                            [225, 0.7, 235, 0.65]]
    stats.loc[washed, ["face_brightness", "face_clipped"]] = [240, 0.7]
    without = quality.quality_scores(stats.drop(columns=["face_brightness", "face_clipped"]), persons)
    assert (without["score"][[kept, washed]] >= 0.5).all()
    got = quality.quality_scores(stats, persons)
    assert set(np.flatnonzero(got["score"] >= 0.5)) == {washed} and got["reason"][washed] == "overexposed"


def test_mirrored_photos_give_the_same_grids():
    rng = np.random.default_rng(3)
    photo = rng.integers(0, 256, (1, 64, 48, 3), dtype=np.uint8)
    mirrored = photo[:, :, ::-1]
    for grid in (evidence.scene_grid, evidence.identity_grid):
        np.testing.assert_allclose(grid(photo), grid(mirrored), atol=1e-9)
    assert not np.allclose(evidence.colour_grid(photo), evidence.colour_grid(mirrored))
    np.testing.assert_allclose(evidence.colour_grid(photo, mirror=True), evidence.colour_grid(mirrored, mirror=True))


def test_made_strangers_are_put_among_another_person_and_drawn_by_seed():
    persons = np.repeat(np.array(["a", "b", "c", "d"]), 7)
    usable = np.ones(len(persons), bool)
    usable[3] = False
    source, among = outliers._strangers(persons, usable, seed=0)
    assert 3 not in source and len(source) == len(persons) - 1
    assert (among != persons[source]).all() and set(among) <= set(persons)
    again = outliers._strangers(persons, usable, seed=0)
    np.testing.assert_array_equal(among, again[1])
    assert (outliers._strangers(persons, usable, seed=1)[1] != among).any()


def _person_features(n_persons: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(features, persons, stems, gender codes, ages): 7 photos per person, each its person's
    direction plus noise, with the person's gender and age written into two columns."""
    rng = np.random.default_rng(seed)
    persons = np.repeat(np.arange(n_persons), 7).astype(str)
    stems = np.tile(np.array(STEMS), n_persons)
    gender = np.repeat(np.arange(n_persons) % 2, 7)
    age = np.repeat(rng.uniform(18, 65, n_persons), 7)
    centre = np.repeat(rng.normal(size=(n_persons, 8)), 7, axis=0)
    features = np.c_[centre + rng.normal(0, 2.0, centre.shape), gender * 3.0, age / 5] \
        + rng.normal(0, 0.2, (len(persons), 10))
    return features, persons, stems, gender, age


def test_perceived_age_and_gender_come_out_of_fold():
    features, persons, _, gender, age = _person_features(40)
    given = gender.copy()
    given[persons == "0"] = 1 - given[persons == "0"]  # person 0 filed under the wrong gender
    seen = evidence.perceived(features, persons, given, age)
    assert seen.shape == (len(persons), 2)
    assert np.median(np.abs(seen[:, 0] - age)) < 4
    assert roc_auc_score(gender, seen[:, 1]) > 0.95
    # its own wrong label did not reach it: perceived as it is, below every photo of the other gender
    assert seen[persons == "0", 1].max() < np.median(seen[gender == 1, 1])
    np.testing.assert_array_equal(seen, evidence.perceived(features, persons, given, age))  # seeded folds
    assert evidence.perceived(features, persons, np.zeros_like(gender), age).shape == (len(persons), 1)
    few = np.isin(persons, ["0", "1", "2", "3"])  # fewer persons than the folds
    assert evidence.perceived(features[few], persons[few], gender[few], age[few]).shape == (few.sum(), 0)


def test_a_photo_perceived_as_another_age_and_gender_is_an_outlier_only_with_the_attributes():
    features, persons, stems, gender, age = _person_features(60)
    seen = np.c_[age, np.where(gender == 1, 2.0, -2.0)] + np.random.default_rng(1).normal(0, [2, 0.5], (len(age), 2))
    odd = np.flatnonzero(np.isin(persons, ["3", "11", "19", "27", "35", "43"]) & (stems == "mask3"))
    seen[odd] = np.c_[age[odd] + 30, -seen[odd, 1]]  # their faces look like nobody else of the person's
    features = evidence.unit(features)
    without = outliers.outlier_scores(features, persons, stems)["score"]
    with_them = outliers.outlier_scores(features, persons, stems, attributes=seen)["score"]
    assert without[odd].max() < 0.1
    assert with_them[odd].min() > with_them.drop(odd).max()  # each above every other photo
    assert (with_them[odd] >= 0.5).sum() >= 3 and with_them.drop(odd).max() < 0.1


def test_outlier_scores_of_one_person_have_no_strangers_to_make():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(7, 8))
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    stems = np.array([f"mask{i}" for i in range(7)])
    scores = outliers.outlier_scores(features, np.zeros(7, int), stems)
    assert (scores["score"] == 0).all() and len(scores) == 7
