"""The full profile at the real data's size: synthetic set of 2,700 persons x 7 photos at 384 x 512
(+ 12,600 eval images), then synth, ingest, faces at 380 px, one OOF epoch and one train epoch of
EfficientNet-B4 at 380, each timed; images/s, peak memory (RSS of this process and of its worker
processes, and CUDA's max allocated), the crop cache's size on disk, and a projection of the whole
full profile from the measured rates.

    python benchmarks/scale.py --device cuda --amp --channels-last          # everything, full size (GPU box)
    python benchmarks/scale.py --persons 60 --eval-persons 20 --limit 48    # CPU: a subset, projected
    python benchmarks/scale.py --model-only --device cuda --amp --channels-last --batch 64
    python benchmarks/scale.py --skip-synth --data DIR --skip-faces ...     # reuse a set; crops without mediapipe

`--model-only` imports torch and timm alone (for a GPU box without mediapipe, cleanlab, dvc, rembg
or pydantic): B4 train steps (AdamW, loss, backward) and inference steps on in-memory tensors, then
(when `pipeline.model.train` imports there) the project's own `fit` loop on a crop memmap, printed next to
timm's published figures. Without mediapipe `--skip-faces` makes the crop cache from centre crops
(same size and memmap, not face crops) so the OOF / train timings still run on real-sized data.

The full profile it projects (change with the options): faces at 380 px; OOF B4 @ 380, 5 folds x
`--oof-epochs` 5, flip TTA; train B4 @ 380, 5 folds x `--train-epochs` 15; predict 5 folds x 2 views
over the eval images. Nothing here holds the set in memory: images stream from disk, the crop cache
is a memmap written row by row, batches are read from it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REAL = dict(persons=2700, eval_images=12600, photos=7, image_size=(384, 512))
# timm's published EfficientNet-B4 throughput (github.com/huggingface/pytorch-image-models, results/,
# at commit aa4b585): (file, img/s, batch, img size). No H100 / H200 rows exist there.
PUBLISHED = {
    "train": [("benchmark-train-amp-nhwc-pt112-cu113-rtx3090.csv", 354.99, 96, 320),
              ("benchmark-train-amp-nchw-pt112-cu113-rtx3090.csv", 293.1, 96, 320)],
    "infer": [("benchmark-infer-amp-nhwc-pt240-cu124-rtx4090.csv", 1041.96, 512, 384),
              ("benchmark-infer-amp-nchw-pt240-cu124-rtx4090.csv", 1211.17, 384, 384),
              ("benchmark-infer-amp-nchw-pt291-cu130-5090.csv", 1773.12, 768, 384),
              ("benchmark-infer-amp_bf16-nchw-pt291-cu130-pro6000maxq-dynamo.csv", 2199.22, 384, 384)],
}


def peak_rss_gb() -> dict[str, float]:
    """Peak resident memory so far, GB: this process, and the largest of its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    return {"rss_gb": round(own, 2), "child_rss_gb": round(kids, 2)}


def cuda_peak_gb(device: str) -> dict[str, float]:
    import torch

    if not device.startswith("cuda"):
        return {}
    out = {"cuda_max_allocated_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)}
    torch.cuda.reset_peak_memory_stats()
    return out


class Report:
    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}

    def add(self, name: str, images: int, seconds: float, **extra) -> dict:
        row = {"images": images, "seconds": round(seconds, 2), "img_per_s": float(f"{images / seconds:.4g}"), **extra}
        self.rows[name] = row
        print(f"{name:>12}: {images} images in {seconds:.1f} s = {images / seconds:.3g} img/s  "
              + "  ".join(f"{k} {v}" for k, v in extra.items()), flush=True)
        return row


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


# ---- model only: torch + timm ----

def model_steps(args: argparse.Namespace, report: Report) -> None:
    """B4 train and inference steps on in-memory tensors (the model's ceiling on this device)."""
    import timm
    import torch

    device = args.device
    dtype = torch.bfloat16 if args.amp else None
    torch.manual_seed(0)
    net = timm.create_model(args.model, num_classes=8).to(device)
    x = torch.rand(args.batch, 3, args.img_size, args.img_size, device=device)
    if args.channels_last:
        net, x = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 3, (args.batch,), device=device)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, fused=device.startswith("cuda"))
    autocast = dict(device_type=device.split(":")[0], dtype=dtype or torch.float32, enabled=dtype is not None)
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True

    def train_step() -> None:
        with torch.autocast(**autocast):
            loss = torch.nn.functional.cross_entropy(net(x).float()[:, :3], y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def infer_step() -> None:
        with torch.inference_mode(), torch.autocast(**autocast):
            net(x)

    for name, step, mode in (("train_step", train_step, net.train), ("infer_step", infer_step, net.eval)):
        mode()
        for _ in range(args.warmup):
            step()
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        _sync(device)
        report.add(name, args.steps * args.batch, time.perf_counter() - t0, batch=args.batch,
                   img_size=args.img_size, **cuda_peak_gb(device), **peak_rss_gb())
    for kind in ("train", "infer"):
        for file, ips, batch, size in PUBLISHED[kind]:
            print(f"   published {kind} {ips:8.1f} img/s (batch {batch}, {size} px): timm results/{file}")


# ---- the stages ----

def synth(args: argparse.Namespace, data: Path, report: Report) -> None:
    from pipeline.data.synth import generate

    t0 = time.perf_counter()
    generate(data, persons=args.persons, eval_persons=args.eval_persons, seed=0, image_size=REAL["image_size"],
             workers=args.workers, progress=False, overwrite=True)
    n = sum(1 for p in (data / "train" / "images").rglob("*") if p.is_file())
    n += sum(1 for p in (data / "eval" / "images").glob("*") if p.is_file())
    report.add("synth", n, time.perf_counter() - t0, size="384x512", **peak_rss_gb())


def ingest(data: Path, args: argparse.Namespace, report: Report):
    from pipeline.data.ingest import ingest as run

    t0 = time.perf_counter()
    manifest = run(data, workers=args.workers, progress=False).manifest
    report.add("ingest", len(manifest), time.perf_counter() - t0, **peak_rss_gb())
    return manifest


def faces(manifest, crops_path: Path, args: argparse.Namespace, report: Report):
    if args.limit_faces:
        manifest = manifest.iloc[: args.limit_faces]
    if args.skip_faces:  # no mediapipe here: centre crops, same size and memmap
        import cv2

        from pipeline.faces.detect import centre_box, crop_box, extract
        from pipeline.data.imageio import read_rgb

        from concurrent.futures import ThreadPoolExecutor

        def crop(path: str) -> np.ndarray:
            image = read_rgb(path)
            square = extract(image, crop_box(centre_box(image.shape), image.shape))
            return cv2.resize(square, (args.crop, args.crop), interpolation=cv2.INTER_AREA)

        t0 = time.perf_counter()
        crops = np.lib.format.open_memmap(crops_path, mode="w+", dtype=np.uint8,
                                          shape=(len(manifest), args.crop, args.crop, 3))
        paths = manifest["path"].astype(str).tolist()
        with ThreadPoolExecutor(args.workers or os.cpu_count()) as pool:  # decoding releases the GIL
            for start in range(0, len(paths), 1024):  # a bounded number of crops in flight
                crops[start:start + 1024] = np.stack(list(pool.map(crop, paths[start:start + 1024])))
        crops.flush()
        del crops
        name = "centre_crops"
    else:
        from pipeline.faces.detect import process

        t0 = time.perf_counter()
        process(manifest, out_crops=crops_path, size=args.crop, background=args.background,
                rembg_model=args.rembg_model, workers=args.workers, show_progress=False)
        name = f"faces_{args.background}"
    size = crops_path.stat().st_size
    report.add(name, len(manifest), time.perf_counter() - t0, crop=args.crop, cache_gb=round(size / 2**30, 2),
               cache_bytes_per_image=size // max(len(manifest), 1), **peak_rss_gb())


def train_epochs(crops_path: Path, labels: np.ndarray, persons: np.ndarray, args: argparse.Namespace,
                 report: Report) -> None:
    """One train epoch (fit on 4/5, validate 1/5) and one OOF epoch (k folds of 1 epoch + their
    held-out predictions with flip TTA), through the project's own loops, on the first `limit` rows.
    The train epoch comes first: it gives the rates the projection needs most, should time run out."""
    import torch

    from pipeline.model.train import TrainConfig, fit, out_of_fold, predict

    crops = np.load(crops_path, mmap_mode="r")
    n = min(args.limit or len(labels), len(labels), len(crops))  # train rows lead; eval crops follow
    crops, labels, persons = crops[:n], labels[:n], persons[:n]
    cfg = TrainConfig(model=args.model, heads="multi", img_size=args.img_size, epochs=1, batch_size=args.batch,
                      lr=3e-4, amp="bf16" if args.amp else "off", channels_last=args.channels_last,
                      num_workers=args.loader_workers, tta_flip=True)
    device = args.device
    if not args.skip_train:
        val = np.arange(n) % 5 == 0
        t0 = time.perf_counter()
        model, history = fit(crops, labels, np.flatnonzero(~val), np.flatnonzero(val), cfg=cfg, device=device,
                             progress=False)
        seconds = time.perf_counter() - t0
        report.add("train_epoch", int((~val).sum()), seconds, fit_img_per_s=round(history[0]["imgs_per_s"], 2),
                   **cuda_peak_gb(device), **peak_rss_gb())
        t0 = time.perf_counter()
        predict(model, crops, np.arange(n), batch_size=args.batch * 2, tta_flip=True, device=device)
        _sync(device)
        report.add("predict", 2 * n, time.perf_counter() - t0, note="2 views per image",
                   **cuda_peak_gb(device), **peak_rss_gb())
        del model
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    if not args.skip_oof:
        t0 = time.perf_counter()
        out_of_fold(crops, labels, persons, labels % 6, k=args.folds, cfg=cfg, seed=0, device=device, progress=False)
        seconds = time.perf_counter() - t0
        # k fits on (k-1)/k of the rows + every row predicted in 2 views
        report.add("oof_epoch", n, seconds, folds=args.folds, trained=n * (args.folds - 1),
                   predicted=2 * n, **cuda_peak_gb(device), **peak_rss_gb())


def project(report: Report, args: argparse.Namespace) -> None:
    """Hours of the full profile on the real size from the measured rates."""
    train_images = REAL["persons"] * REAL["photos"]
    all_images = train_images + REAL["eval_images"]
    r = report.rows
    k = args.folds
    parts = {}
    if "synth" in r:
        parts["synth"] = all_images / r["synth"]["img_per_s"]
    if "ingest" in r:
        parts["ingest"] = all_images / r["ingest"]["img_per_s"]
    face = next((v for key, v in r.items() if key.startswith("faces_")), None)
    if face:
        parts["faces"] = all_images / face["img_per_s"]
    # training images / s: from the OOF epoch's k fits when there (cuDNN's autotuning and the first
    # model build fall on the train epoch before it), less the time of its held-out predictions
    fit_rate, pred = None, r.get("predict", {}).get("img_per_s")
    if "oof_epoch" in r and pred:
        o = r["oof_epoch"]
        fit_rate = o["trained"] / (o["seconds"] - o["predicted"] / pred)
    elif "train_epoch" in r:
        fit_rate = r["train_epoch"]["fit_img_per_s"]
    if fit_rate and pred:
        fold_rows = (k - 1) / k * train_images
        parts["oof"] = k * args.oof_epochs * fold_rows / fit_rate + 2 * train_images / pred
        parts["train"] = k * args.train_epochs * (fold_rows / fit_rate + train_images / k / pred)  # + validation
        parts["predict"] = k * 2 * REAL["eval_images"] / pred
        print(f"\nrates used: training {fit_rate:.0f} img/s, prediction {pred:.0f} img/s")
        report.rows["rates"] = {"fit_img_per_s": round(fit_rate, 1), "predict_img_per_s": pred}
    total = sum(parts.values())
    print(f"\nprojection, full profile at the real size ({train_images:,} train + {REAL['eval_images']:,} eval "
          f"images; OOF {k} folds x {args.oof_epochs} epochs, train {k} folds x {args.train_epochs} epochs, "
          f"predict {k} folds x 2 views), on this machine ({args.device}):")
    for name, seconds in parts.items():
        print(f"  {name:>8}: {seconds / 3600:7.2f} h")
    print(f"  {'total':>8}: {total / 3600:7.2f} h")
    print(f"  crop cache at the real size: {all_images * args.crop ** 2 * 3 / 2**30:.1f} GB on disk "
          f"(a memmap: never all in memory)")
    report.rows["projection_hours"] = {k2: round(v / 3600, 3) for k2, v in parts.items()} | {
        "total": round(total / 3600, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default=None, help="cuda | cpu (default: cuda when there is one)")
    ap.add_argument("--persons", type=int, default=REAL["persons"])
    ap.add_argument("--eval-persons", type=int, default=REAL["eval_images"] // REAL["photos"])
    ap.add_argument("--data", type=Path, help="dataset folder (default: a temporary one)")
    ap.add_argument("--model", default="efficientnet_b4")
    ap.add_argument("--img-size", type=int, default=380)
    ap.add_argument("--crop", type=int, default=380, help="faces crop size")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA)")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--oof-epochs", type=int, default=5)
    ap.add_argument("--train-epochs", type=int, default=15)
    ap.add_argument("--limit", type=int, default=0, help="rows used by the OOF / train epochs (0 = all)")
    ap.add_argument("--limit-faces", type=int, default=0, help="images through faces (0 = all)")
    ap.add_argument("--background", default="selfie", choices=["selfie", "rembg", "none"])
    ap.add_argument("--rembg-model", default="weights/u2netp.onnx")
    ap.add_argument("--workers", type=int, default=0, help="synth / ingest / faces processes (0 = all cores)")
    ap.add_argument("--loader-workers", type=int, default=0, help="DataLoader workers of the fit loop")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    ap.add_argument("--model-only", action="store_true", help="torch + timm only: B4 steps on tensors")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    for stage in ("synth", "faces", "oof", "train"):  # ingest always runs: it makes the manifest
        ap.add_argument(f"--skip-{stage}", action="store_true")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    args.device = args.device or ("cuda" if _cuda() else "cpu")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    report = Report()
    print(f"device {args.device}, model {args.model} @ {args.img_size}, batch {args.batch}, amp {args.amp}, "
          f"channels_last {args.channels_last}", flush=True)
    if args.model_only:
        model_steps(args, report)
        if not (args.skip_oof and args.skip_train):
            try:
                import pipeline.model.train  # noqa: F401  (the real loop, when its imports exist here)
            except ImportError as e:
                print(f"   (fit loop skipped: {e})")
            else:
                _loop_on_random_crops(args, report)
    else:
        with tempfile.TemporaryDirectory(dir=args.data.parent if args.data else None) as tmp:
            data = args.data or Path(tmp) / "data"
            if not args.skip_synth:
                synth(args, data, report)
            manifest = ingest(data, args, report)
            crops_path = Path(tmp) / "crops.npy"
            faces(manifest, crops_path, args, report)
            train = manifest[manifest["split"] == "train"] if "split" in manifest else manifest
            n = min(len(train), len(np.load(crops_path, mmap_mode="r")))
            labels = (train["mask"].to_numpy()[:n] * 6 + train["gender"].to_numpy()[:n] * 3
                      + np.digitize(train["age"].to_numpy()[:n], [30, 58]))
            train_epochs(crops_path, labels.astype(np.int64), train["person_id"].to_numpy()[:n], args, report)
        project(report, args)
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, **report.rows},
                                        indent=1))


def _loop_on_random_crops(args: argparse.Namespace, report: Report) -> None:
    """The project's OOF / train loops on a memmap of random crops (no dataset needed)."""
    n = args.limit or 20 * args.batch
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "crops.npy"
        crops = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, args.crop, args.crop, 3))
        rng = np.random.default_rng(0)
        for i in range(0, n, 256):
            crops[i:i + 256] = rng.integers(0, 256, crops[i:i + 256].shape, dtype=np.uint8)
        crops.flush()
        del crops
        labels = rng.integers(0, 18, n)
        train_epochs(path, labels, np.repeat(np.arange(n // 7 + 1), 7)[:n].astype(str), args, report)


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
