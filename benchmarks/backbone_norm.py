"""Which input normalisation suits a backbone's weights: measured, not guessed by confidence.

For each normalisation (default: ``tflite`` (x - 127) / 128 and ``imagenet`` mean/std), side by side:

* **labelled real photos**: 8 photos shipped with scikit-image and matplotlib whose ImageNet class is
  known (a cat, an espresso, a rocket, a wall clock, a cameraman with his tripod, a motorbike, an
  astronaut, Grace Hopper in uniform), 8 crops/augmentations each (centre, whole picture squashed,
  left and right squares, two zooms, mirror, blur): top-1 and top-5 hits out of 64, and the mean
  probability given to the right classes;
* **same-video retrieval on real clips** (``../shared/devdata`` when present): frames of every
  video at four instants (1/8, 3/8, 5/8, 7/8 of its first 120 s); each frame queries another
  instant's frames of all videos by cosine similarity of the pooled features; R@1 counts the same
  video (or a copy of it, the MANIFEST's ``group``) at rank 1, averaged over the 12 ordered pairs of instants;
* **stem activation statistics** over all those inputs: mean and std of the stem's output after its
  ReLU6, and the shares of units at 0 and saturated at 6 (a badly scaled input pushes them there).

    PYTHONPATH=src nice .venv/bin/python benchmarks/backbone_norm.py                       # ~1 min on 2 cores
    PYTHONPATH=src nice .venv/bin/python benchmarks/backbone_norm.py --backbone efficientnet_lite2 --json
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

#: photo -> the ImageNet classes that are right for it (decided from the picture, before any run)
PHOTOS = {
    "chelsea": ("tabby", "tiger cat", "Egyptian cat"),
    "coffee": ("espresso", "cup", "coffee mug"),
    "rocket": ("missile", "projectile", "space shuttle"),
    "clock": ("wall clock", "analog clock"),
    "camera": ("tripod", "reflex camera", "Polaroid camera"),
    "stereo_motorcycle": ("moped", "motor scooter", "crash helmet"),
    "astronaut": ("space shuttle", "crash helmet", "military uniform", "flagpole"),
    "grace_hopper": ("military uniform",),
}

DEVDATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "devdata"


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="efficientnet_lite0", help="registry name (default efficientnet_lite0)")
    p.add_argument("--norms", nargs="+", default=["tflite", "imagenet"], help="normalisations compared")
    p.add_argument("--devdata", type=Path, default=DEVDATA, help="folder of real clips (skipped when absent)")
    p.add_argument("--size", type=int, default=224, help="side of the crops and frames (default 224)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    return p


def _photo(name: str) -> np.ndarray:
    """RGB uint8 [H, W, 3]."""
    if name == "grace_hopper":
        import matplotlib.cbook as cbook
        from PIL import Image

        return np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB"))
    import skimage.data

    img = skimage.data.stereo_motorcycle()[0] if name == "stereo_motorcycle" else getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3]).astype(np.uint8)


def _square(img, box, size):
    from PIL import Image

    return np.asarray(Image.fromarray(img).crop(box).resize((size, size), Image.BILINEAR))


def crops(img: np.ndarray, size: int) -> list[np.ndarray]:
    """8 views uint8 [size, size, 3] of one photo: centre, squashed, left, right, zoom 0.8 and 0.6, mirror, blur."""
    from PIL import Image

    h, w = img.shape[:2]
    s = min(h, w)
    cx, cy = (w - s) // 2, (h - s) // 2
    centre = _square(img, (cx, cy, cx + s, cy + s), size)
    out = [centre, np.asarray(Image.fromarray(img).resize((size, size), Image.BILINEAR)),
           _square(img, (0, 0, s, s), size), _square(img, (w - s, h - s, w, h), size)]
    for z in (0.8, 0.6):
        t = int(s * z)
        x0, y0 = (w - t) // 2, (h - t) // 2
        out.append(_square(img, (x0, y0, x0 + t, y0 + t), size))
    out.append(np.ascontiguousarray(centre[:, ::-1]))
    small = Image.fromarray(centre).resize((size // 3, size // 3), Image.BILINEAR)
    out.append(np.asarray(small.resize((size, size), Image.BILINEAR)))
    return out


#: the instants (shares of the sampled length) whose frames query each other
INSTANTS = (0.125, 0.375, 0.625, 0.875)


def devdata_frames(folder: Path, size: int) -> tuple[list[str], np.ndarray]:
    """``(identities, frames uint8 [len(INSTANTS), N, size, size, 3])``: one identity per video (its copy group if any)."""
    from reelmatch.dedupe.frames import sample_frames

    groups = {}
    manifest = folder / "MANIFEST.tsv"
    if manifest.exists():
        with open(manifest, newline="") as f:
            groups = {r["file"]: r["group"] for r in csv.DictReader(f, delimiter="\t")}
    ids, views = [], []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in {".mp4", ".webm", ".mkv", ".avi", ".mov",
                                                                         ".mpg", ".mpeg", ".ogv"}):
        try:
            frames, _ = sample_frames(path, fps=1.0, max_side=320, max_seconds=120, min_frames=8)
        except Exception as e:  # noqa: BLE001 - a file that does not decode is left out, and said so
            print(f"skipped {path.name}: {e}", file=sys.stderr)
            continue
        if len(frames) < 2:
            continue
        picked = [frames[min(len(frames) - 1, int(q * len(frames)))] for q in INSTANTS]
        views.append([_square(f, _centre_box(f), size) for f in picked])
        ids.append(groups.get(path.name) or path.name)
    return ids, np.stack(views, axis=1)


def _centre_box(f):
    h, w = f.shape[:2]
    s = min(h, w)
    return ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)


def same_video_r1(ids, feats: np.ndarray) -> float:
    """R@1 over every ordered pair of instants: feats float [I, N, D], frames of instant i query those of j."""
    f = feats / np.linalg.norm(feats, axis=-1, keepdims=True)
    ids = np.asarray(ids)
    hits = [(ids[(f[i] @ f[j].T).argmax(1)] == ids).mean() for i in range(len(f)) for j in range(len(f)) if i != j]
    return float(np.mean(hits))


def measure(backbone_name: str, norm: str, photos: dict, video, size: int) -> dict:
    import torch

    from reelmatch.model.backbones import create_backbone
    from torchvision.models import ResNet50_Weights

    categories = ResNet50_Weights.IMAGENET1K_V2.meta["categories"]
    b = create_backbone(backbone_name, pretrained=True, norm=norm).eval()
    stem = _stem(b)
    acts = []
    if stem is not None:
        stem.register_forward_hook(lambda m, i, o: acts.append(o.detach().clamp(0, 6).flatten()))
    res = {"norm": b.norm}
    top1 = top5 = n = 0
    prob = []
    with torch.inference_mode():
        if photos:
            for name, views in photos.items():
                right = [categories.index(c) for c in PHOTOS[name]]
                p = b.logits(b.preprocess(torch.from_numpy(np.stack(views)))).softmax(-1)
                top = p.topk(5).indices
                top1 += int(sum(int(t[0]) in right for t in top))
                top5 += int(sum(bool(set(t.tolist()) & set(right)) for t in top))
                prob.append(p[:, right].sum(1).mean().item())
                n += len(views)
            res.update({"photos_top1": top1, "photos_top5": top5, "photos_n": n,
                        "photos_mean_p_right": round(float(np.mean(prob)), 4)})
        if video is not None:
            ids, views = video
            feats = np.stack([b(b.preprocess(torch.from_numpy(v))).numpy() for v in views])
            res.update({"videos": len(ids), "same_video_r1": round(same_video_r1(ids, feats), 4)})
    if acts:
        x = torch.cat(acts)
        res.update({"stem_mean": round(x.mean().item(), 4), "stem_std": round(x.std().item(), 4),
                    "stem_zero": round((x <= 0).float().mean().item(), 4),
                    "stem_saturated": round((x >= 6).float().mean().item(), 4)})
    return res


def _stem(b):
    """The stem's batch norm (its output goes through ReLU6), None for a backbone without one."""
    net = getattr(b, "net", None)
    return net._bn0 if net is not None and hasattr(net, "_conv_stem") else None


def main(args) -> int:
    import torch

    torch.set_num_threads(2)
    photos = {name: crops(_photo(name), args.size) for name in PHOTOS}
    video = devdata_frames(args.devdata, args.size) if args.devdata.is_dir() else None
    rows = [measure(args.backbone, norm, photos, video, args.size) for norm in args.norms]
    doc = {"backbone": args.backbone, "size": args.size, "results": rows}
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    keys = [k for k in rows[0] if k != "norm"]
    print(f"{args.backbone}: input normalisation side by side ({args.size} px crops and frames)")
    print(f"{'':24s}" + "".join(f"{r['norm']:>12s}" for r in rows))
    for k in keys:
        print(f"{k:24s}" + "".join(f"{r.get(k, float('nan')):>12}" for r in rows))
    if video is None:
        print(f"(no {args.devdata}: same-video retrieval not measured)")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
