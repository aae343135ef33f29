#!/usr/bin/env python3
"""torchvision peer for the vit-bench "data" suite.

Reads the same ImageFolder tree as the TypeScript suite through torchvision's ImageFolder + DataLoader (PIL
decoding) with the same per-sample pipeline — RandomResizedCrop(size), RandomHorizontalFlip, ToTensor,
Normalize(ImageNet) — and the same batch size and worker counts, and prints one JSON object on stdout:

  {"torch": "...", "torchvision": "...", "results": {"1": [img/s, ...], "2": [...]}}

Each figure is one full epoch after `--warmup` untimed epochs (workers persist across epochs, like ours).
"""
import argparse
import json
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    args = ap.parse_args()

    import torch
    import torchvision
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    # The main process only collates; keep it from competing with the workers for the cores.
    torch.set_num_threads(1)
    tf = transforms.Compose(
        [
            transforms.RandomResizedCrop(args.size),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ]
    )
    ds = datasets.ImageFolder(args.root, transform=tf)
    results = {}
    for w in [int(x) for x in args.workers.split(",")]:
        loader = DataLoader(
            ds,
            batch_size=args.batch_size,
            shuffle=True,
            num_workers=w,
            persistent_workers=w > 0,
        )
        rates = []
        for epoch in range(args.warmup + args.repeats):
            t0 = time.perf_counter()
            n = 0
            for images, _labels in loader:
                n += images.shape[0]
            dt = time.perf_counter() - t0
            if epoch >= args.warmup:
                rates.append(n / dt)
        results[str(w)] = rates
        del loader
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "torchvision": torchvision.__version__,
                "images": len(ds),
                "results": results,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
