"""synth: the embedded synthetic dataset -> data/synthetic (swapped in whole). Does nothing, and
leaves data/synthetic empty, when data.root points at other data."""

from pathlib import Path

from pipeline import stage
from pipeline.files import atomic_dir
from pipeline.params import SYNTHETIC_ROOT
from pipeline.data.synth import generate

OUT = Path(SYNTHETIC_ROOT)
# what real sessions vary: a key params.yaml lacks keeps generate()'s (realistic) default
SESSION_KEYS = ("mirror", "exposure", "white_balance", "framing", "jpeg_quality", "sensor_noise",
                "shared_rooms", "second_room", "refile_session", "refile_drift", "age_near_noise",
                "age_digit_noise", "mask_photo_noise")

if __name__ == "__main__":  # workers re-import this file
    params = stage.start()
    cfg = params["synth"]
    root = Path(params["data"]["root"]).as_posix().rstrip("/")
    with atomic_dir(OUT) as tmp:
        if root != SYNTHETIC_ROOT:
            print(f"synth: data.root is {root}, not {SYNTHETIC_ROOT}: nothing generated")
        else:
            stats = generate(tmp, persons=cfg["persons"], eval_persons=cfg["eval_persons"],
                             seed=params["seed"], image_size=tuple(cfg["image_size"]),
                             gender_noise=cfg["gender_noise"], swap_noise=cfg["swap_noise"],
                             age_noise=cfg["age_noise"], duplicate_noise=cfg.get("duplicate_noise", 0.0),
                             outlier_noise=cfg.get("outlier_noise", 0.0),
                             quality_noise=cfg.get("quality_noise", 0.0),
                             workers=cfg.get("workers", 0),
                             **{k: cfg[k] for k in SESSION_KEYS if k in cfg})
    if root == SYNTHETIC_ROOT:
        noise = ", ".join(f"{k} {v}" for k, v in stats["noise_persons"].items())
        print(f"synth: {stats['images']} images ({stats['persons']} train + {stats['eval_persons']} eval "
              f"persons) -> {OUT} in {stats['seconds']:.0f} s; noisy persons: {noise}; "
              f"{', '.join(f'{k} {v}' for k, v in stats['issues'].items())}; "
              f"hard persons: {stats['hard_persons']}")
