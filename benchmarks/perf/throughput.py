"""Featurizer throughput on this machine: batched embedding against one sample at a time.

EfficientNet-Lite0 (224 px) images/s and all-MiniLM-L6-v2 sentences/s on CPU; on a
CUDA machine, ResNet-50 (bf16, channels_last) images/s from files against the same
model's forward on random tensors (the ceiling).
"""

import os
import statistics
import tempfile

import numpy as np

from .timing import load_average, timed


def _write_images(folder, n, size=(320, 240), seed=0):
    """Smooth random JPEG photos-ish images (gradients plus noise)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : size[1], 0 : size[0]] / max(size)
    paths = []
    for i in range(n):
        a = rng.random((3, 3))
        img = np.stack([a[c, 0] * xx + a[c, 1] * yy + a[c, 2] for c in range(3)], axis=-1)
        img = np.clip(img * 160 + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
        path = os.path.join(folder, f"{i:05d}.jpg")
        Image.fromarray(img).save(path, quality=90)
        paths.append(path)
    return paths


def _sentences(n, seed=0):
    words = ("the a man woman dog cat is was not never runs sits plays in on under near park "
             "street with without happy quietly large small red blue house car music game "
             "today").split()
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(words, rng.integers(6, 30))) for _ in range(n)]


def _side_by_side(batched, one_by_one, repeats):
    """Median seconds of ``batched`` and of ``one_by_one``, timed in turn ``repeats`` times
    (a busy spell of the machine then slows both), and the pairs of times."""
    pairs = [(timed(batched)[0], timed(one_by_one)[0]) for _ in range(repeats)]
    return (statistics.median(b for b, _ in pairs), statistics.median(o for _, o in pairs),
            pairs)


def bench_featurizers(report, *, threads, n_images, n_naive_images, n_texts, n_naive_texts,
                      repeats=1):
    """Images/s and sentences/s, batched and one at a time, measured in turn ``repeats``
    times (the speed-ups are the medians of the pairs' ratios); the GPU loader where CUDA
    is."""
    import torch

    from featurizers.image import ImageEncoder, open_rgb
    from featurizers.text import TextEncoder

    name = "featurizers"
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="nt-perf-img-") as tmp:
        paths = _write_images(tmp, n_images)
        enc = ImageEncoder("tf_efficientnet_lite0", device="cpu")
        list(enc.embed(paths, 0, min(8, n_images), batch_size=8))  # warm-up
        def naive():
            with torch.inference_mode():
                for p in paths[:n_naive_images]:
                    x = enc.transform(open_rgb(p)).unsqueeze(0)
                    enc.model.forward_head(enc.model.forward_features(x), pre_logits=True).numpy()

        batched, one_by_one, pairs = _side_by_side(
            lambda: list(enc.embed(paths, 0, n_images, batch_size=64)), naive, repeats)
        img_speedup = statistics.median((n_images / b) / (n_naive_images / o) for b, o in pairs)
        # torch's OpenMP threads wait on each other when another process holds a core:
        # the forward alone at 1 and at `threads` threads shows how much that costs here
        x = torch.randn(16, 3, 224, 224)
        forward = {}
        for n_threads in sorted({threads, 1}):
            torch.set_num_threads(n_threads)
            with torch.inference_mode():
                enc.model.forward_features(x[:2])
                forward[n_threads] = 16 / timed(lambda: enc.model.forward_features(x))[0]
        torch.set_num_threads(threads)
    img_rate, naive_rate = n_images / batched, n_naive_images / one_by_one
    report.add(name, "EfficientNet-Lite0 224 px, CPU: embed() (DataLoader, batch 64)",
               f"{img_rate:.1f} images/s", f"{enc.workers} decoding worker(s), {threads} torch "
               f"threads, {n_images} JPEGs 320x240; median of {repeats}, in turn with the loop")
    report.add(name, "EfficientNet-Lite0 224 px, CPU: one image at a time",
               f"{naive_rate:.1f} images/s", f"median of {repeats}")
    part = getattr(enc, "cpu_forward_batch", None)
    report.add(name, "EfficientNet-Lite0, CPU: images the model sees at a time in embed()",
               str(part) if part else "4 (fixed in this version)",
               "the fastest of 1, 2, 4 and 8 giving the rows of 4 at a time bit for bit, timed "
               "on the first batch" if part else "")
    report.add(name, "SPEED-UP batched images", f"{img_speedup:.1f}x",
               "median of the pairs' ratios: " + ", ".join(
                   f"{(n_images / b) / (n_naive_images / o):.2f}" for b, o in pairs))
    report.add(name, "EfficientNet-Lite0 forward alone, batch 16, by torch threads",
               ", ".join(f"{k} thread(s): {v:.1f} images/s" for k, v in forward.items()),
               f"load {load_average()}")

    texts = _sentences(n_texts)
    tenc = TextEncoder("all-MiniLM-L6-v2", device="cpu")
    list(tenc.embed(texts, 0, 32, batch_size=32))  # warm-up
    batched, one_by_one, pairs = _side_by_side(
        lambda: list(tenc.embed(texts, 0, n_texts, batch_size=64)),
        lambda: [list(tenc.embed(texts, i, i + 1, batch_size=1)) for i in range(n_naive_texts)],
        repeats)
    txt_rate, naive_txt = n_texts / batched, n_naive_texts / one_by_one
    txt_speedup = statistics.median((n_texts / b) / (n_naive_texts / o) for b, o in pairs)
    report.add(name, "all-MiniLM-L6-v2, CPU: embed() (length-sorted batches of 64)",
               f"{txt_rate:.0f} sentences/s", f"6-30 words each; median of {repeats}")
    report.add(name, "all-MiniLM-L6-v2, CPU: one sentence at a time",
               f"{naive_txt:.0f} sentences/s", f"median of {repeats}")
    report.add(name, "SPEED-UP batched sentences", f"{txt_speedup:.1f}x",
               "median of the pairs' ratios")

    if not torch.cuda.is_available():
        report.add(name, "ResNet-50 bf16 channels_last on GPU vs pure forward (ceiling)",
                   "skipped", "no CUDA device on this machine")
        return
    bench_gpu_loader(report, n_images=max(n_images, 2048))


def bench_gpu_loader(report, *, n_images, batch_size=256):
    """Images/s from JPEG files through ImageEncoder.embed vs the forward on random tensors."""
    import timm
    import torch

    from featurizers.image import ImageEncoder
    from featurizers.runtime import autocast

    name = "featurizers"
    with tempfile.TemporaryDirectory(prefix="nt-perf-gpu-") as tmp:
        ckpt = os.path.join(tmp, "resnet50.pth")
        torch.save(timm.create_model("resnet50", pretrained=False).state_dict(), ckpt)
        paths = _write_images(tmp, n_images, size=(400, 300))
        enc = ImageEncoder("resnet50", weights=ckpt, preprocess="paper")
        list(enc.embed(paths, 0, batch_size, batch_size=batch_size))  # warm-up (cudnn autotune)
        torch.cuda.synchronize()
        loader_s, _, _ = timed(lambda: list(enc.embed(paths, 0, n_images, batch_size=batch_size)))
        x = torch.randn(batch_size, 3, 224, 224, device=enc.device).contiguous(
            memory_format=torch.channels_last)

        def forward_only():
            with torch.inference_mode(), autocast(enc.device, enc.precision):
                for _ in range(n_images // batch_size):
                    features = enc.model.forward_features(x)
                    enc.model.forward_head(features, pre_logits=True).float().cpu()
            torch.cuda.synchronize()

        forward_only()
        ceiling_s, _, _ = timed(forward_only, 3)
    rate, ceiling = n_images / loader_s, (n_images // batch_size) * batch_size / ceiling_s
    report.add(name, f"ResNet-50 {enc.precision} channels_last on {torch.cuda.get_device_name()}: "
               "from JPEG files", f"{rate:.0f} images/s", f"{enc.workers} DataLoader workers")
    report.add(name, "ResNet-50 pure forward on random tensors (ceiling)",
               f"{ceiling:.0f} images/s")
    report.add(name, "loader efficiency (files / ceiling)", f"{rate / ceiling:.0%}")
