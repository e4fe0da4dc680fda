"""Command line: ``python -m car segment | evaluate | configs | toy train | toy train-seg | toy report |
toy tables | bench | demo``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _segment(args: argparse.Namespace) -> int:
    from PIL import Image

    from car.config import load_config
    from car.image import load_image, save_labels, save_png_atomic, working_shape
    from car.queries import check_queries
    from car.viz import label_figure

    from car.results import check_output

    path = Path(args.image)
    out = check_output(args.out, folder=True)  # before any work: a file in the way, or no write permission
    image = load_image(path)  # EXIF orientation applied, any mode converted; one-line errors
    queries = check_queries([q.strip() for q in args.queries.split(",") if q.strip()])  # before loading models
    overrides = {k: getattr(args, k) for k in ("eta", "theta", "lam") if getattr(args, k) is not None}
    if args.working_size is not None:
        overrides["working_size"] = None if args.working_size == "native" else args.working_size
    for role in ("proposal", "classifier"):
        name = getattr(args, f"{role}_model")
        if name:
            overrides[f"{role}_model"] = name
        if args.pretrained:
            overrides[f"{role}_pretrained"] = args.pretrained
    if args.precision:
        overrides["precision"] = args.precision
    if args.proposer:
        overrides["proposer"] = args.proposer
    cfg = load_config(args.config, **overrides)
    h, w = working_shape(image.shape, cfg.working_size)
    if (h, w) != image.shape[:2]:
        print(f"{path.name}: {image.shape[1]}x{image.shape[0]} px, segmented at {w}x{h} (working size "
              f"{cfg.working_size}; --working-size native keeps the full size), labels at full size")
    result = _method_model(cfg, args.method, args.device)(image, queries)
    for t, step in enumerate(getattr(result, "steps", []), 1):  # a single-pass peer has no steps
        kept = [f"{q} {s:.2f}" for q, s, k in zip(step.queries, step.scores, step.kept) if k]
        removed = [f"{q} {s:.2f}" for q, s, k in zip(step.queries, step.scores, step.kept) if not k]
        print(f"step {t}: kept {kept}" + (f", removed {removed}" if removed else ""))
    save_labels(out / f"{path.stem}_labels.png", result.labels)
    overlay = label_figure(image, result.labels, list(queries))
    save_png_atomic(out / f"{path.stem}_overlay.png", Image.fromarray(overlay), compress_level=1)  # 12 MP: 3 s
    print(f"wrote {out / (path.stem + '_labels.png')} (0 = background, i = query i) and "
          f"{out / (path.stem + '_overlay.png')}")
    return 0


def _method_model(cfg, method: str, device: str):
    """The model of ``--method`` (``car``: CaR with the config's proposer; a peer: its single-pass segmenter)."""
    from car.devices import resolve_device
    from car.evaluate import build_model

    return build_model(cfg, method, resolve_device(device))


def _working_size(value: str) -> int | str:
    if value.strip().lower() in ("native", "none", "full"):
        return "native"
    try:
        size = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels or 'native', got {value!r}") from None
    if size < 2:
        raise argparse.ArgumentTypeError(f"working size must be at least 2 pixels, got {size}")
    return size


def _demo(args: argparse.Namespace) -> int:
    from car.demo import Limits, launch

    limits = Limits(max_upload_mb=args.max_upload_mb, max_pixels=int(args.max_megapixels * 1e6),
                    max_queries=args.max_queries, max_queue=args.max_queue)
    launch(world=args.world, host=args.host, port=args.port, share=args.share, device=args.device, limits=limits)
    return 0


def _configs(_args: argparse.Namespace) -> int:
    from car.config import list_configs, load_config

    for name in list_configs():
        cfg = load_config(name)
        print(f"{name:45s} {cfg.table:22s} {cfg.row}")
    beyond = list_configs(beyond=True)
    if beyond:
        print("\n# beyond the paper (car/configs/beyond): no paper cell")
        for name in beyond:
            cfg = load_config(name)
            print(f"{name:45s} {cfg.dataset:22s} {cfg.row}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    """One process, or one rank of ``torchrun --nproc_per_node N -m car evaluate ...`` (rank 0 prints)."""
    import os

    from car.evaluate import run_config

    from car.config import load_config
    from car.results import check_output

    if args.out:
        check_output(args.out)
    overrides = {k: v for k, v in (("precision", args.precision), ("proposer", args.proposer)) if v}
    if args.proposer and args.method != "car":
        raise ValueError(f"--proposer chooses CaR's proposal generator; with --method {args.method} drop it "
                         f"(or run --method car --proposer {args.proposer})")
    config = load_config(args.config, **overrides)
    summary = run_config(config, data_root=args.data_root, out=args.out, limit=args.limit,
                         split=args.split, progress=not args.quiet, device=args.device, method=args.method)
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(summary.get("metrics", summary), indent=1)[:2000])
        d = summary.get("distributed") or {}
        if d.get("world_size", 1) > 1:
            print(f"{d['world_size']} ranks ({d['backend']}): {summary['num_evaluated']} samples, "
                  f"{d.get('samples_per_s')} samples/s", file=sys.stderr)
    return 0


def _toy(args: argparse.Namespace) -> int:
    if args.toy_cmd == "train":
        from car.toy.train import DEFAULT_STEPS, TrainConfig, train
        from car.toy.models import TOY_MODEL_CFGS

        if args.size not in TOY_MODEL_CFGS:
            raise SystemExit(f"error: unknown size {args.size!r}; valid: {', '.join(TOY_MODEL_CFGS)}")
        cfg = TrainConfig(size=args.size, steps=args.steps or DEFAULT_STEPS[args.size], seed=args.seed,
                          stop_at=args.stop_at)
        from car import results

        path, log = train(cfg, out=args.out or results.cache_dir("checkpoints") / f"toy-{args.size}.pt")
        print(f"wrote {path}; last epoch: {json.dumps(log[-1])}")
        return 0
    if args.toy_cmd == "train-seg":
        from car.toy.segmenter import CHECKPOINT, SegTrainConfig, train_segmenter

        from car import results

        out = args.out or results.cache_dir("checkpoints") / CHECKPOINT.name
        _, log = train_segmenter(SegTrainConfig(steps=args.steps, seed=args.seed), out=out)
        print(f"wrote {out}; last log: {json.dumps(log[-1])}")
        return 0
    if args.toy_cmd == "designs":
        from car.experiments.designs import run_designs

        data = run_designs(args.names or None, steps=args.steps, out=args.out)
        for r in data["designs"]:
            print(f"{r['name']:8s} zero-shot {r['zero_shot_acc']:.2f}, same-object mass / chance: blocks "
                  f"{r['blocks']}, after CAA {list(r['caa_last_3'].values())[-1]}")
        return 0
    if args.toy_cmd == "tables":
        from car.experiments.tables import TABLES, toy_table

        for key in args.keys or list(TABLES):
            result = toy_table(key, recompute=True, cache_dir=args.out)
            print(f"Table {key}: {result['meta']['seconds']} s")
            for row in result["rows"]:
                print(f"  {row['label']:55s} {row['values']}")
        return 0
    if args.toy_cmd == "peers":
        from car.experiments.successors import toy_table

        data = toy_table(out=args.out, progress=not args.quiet)
        print(f"{len(data['rows'])} rows x {len(data['splits'])} toy splits in {data['meta']['seconds']} s")
        return 0
    from car.experiments.report import report

    print(json.dumps(report(limit=args.limit, progress=not args.quiet), indent=1))
    return 0


def _bench(args: argparse.Namespace) -> int:
    if args.peers:
        from car.experiments.successors import cost_table

        data = cost_table(out=args.peers, repeats=args.repeats or 1, device=args.device or "cpu",
                          progress=args.progress)
        print(f"wrote {args.peers}: {len(data['rows'])} methods in {data['meta']['seconds']} s")
        return 0
    from car.experiments.bench import benchmark, format_report

    results = benchmark(args.world, steps=args.steps, out=args.out, queries=args.queries, repeats=args.repeats,
                        images=args.images, isolate=args.isolate, threads=args.threads, sweep=args.sweep,
                        sweep_queries=args.sweep_queries, device=args.device, precision=args.precision,
                        progress=args.progress)
    print(format_report(results))
    print(f"wrote {args.out}")
    return 0


DEVICE_HELP = "auto (default: CUDA when available, else the CPU), cpu or cuda"
METHODS = ("car", "maskclip", "sclip", "clearclip", "naclip", "scclip")  # = car.evaluate.METHODS
METHOD_HELP = "car (default) or a single-pass peer of car.peers, on the config's proposal backbone and protocol"
PROPOSER_HELP = ("CaR's proposal generator f (default: the config's): caa, gradcam, or a peer's dense maps "
                 "(maskclip, sclip, clearclip, naclip, scclip; car.proposers.list_proposers())")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
PRECISION_HELP = "CLIP arithmetic (default: the config's, auto = fp16 autocast on CUDA, fp32 on the CPU)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m car", description="CLIP as RNN (CaR): training-free segmentation")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("segment", help="segment one image with text queries")
    s.add_argument("image")
    s.add_argument("--queries", required=True, help='comma-separated, e.g. "cat,dog,sky"')
    s.add_argument("--config", default="voc", help="preset name (python -m car configs) or YAML path")
    s.add_argument("--proposal-model", help="open_clip name or a toy CLIP: toy-b, toy-b4, toy-l (default: the config's)")
    s.add_argument("--classifier-model", help="open_clip name or a toy CLIP: toy-b, toy-b4, toy-l (default: the config's)")
    s.add_argument("--pretrained", help="pretrained tag or weights file for real models (default: the config's)")
    s.add_argument("--eta", type=float)
    s.add_argument("--theta", type=float)
    s.add_argument("--lam", type=float)
    s.add_argument("--working-size", type=_working_size, metavar="PX|native",
                   help="longer side (px) of the CLIP passes and the CRF (default: the config's, 640); "
                        "'native' = the image's own size (official code; slow and memory-hungry on large photos)")
    s.add_argument("--method", default="car", choices=METHODS, help=METHOD_HELP)
    s.add_argument("--proposer", help=PROPOSER_HELP)
    s.add_argument("--out", default="results/segment")
    s.add_argument("--device", default="auto", help=DEVICE_HELP)
    s.add_argument("--precision", choices=PRECISIONS, help=PRECISION_HELP)
    s.set_defaults(func=_segment)

    from car.world import KINDS  # the worlds --world takes

    d = sub.add_parser("demo", help="serve the interactive Gradio demo (pip install \"car-book[demo]\")")
    d.add_argument("--world", choices=["auto", *KINDS], default="auto",
                   help="auto: real CLIP when its weights are at hand, else the toy world; random: real "
                        "architectures with random weights (mechanics only)")
    d.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0 for every interface)")
    d.add_argument("--port", type=int, default=None, help="port (default: Gradio's, 7860 or the next free one)")
    d.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    d.add_argument("--device", default="auto", help=DEVICE_HELP)
    from car.demo import Limits  # the public-demo limits and their defaults

    d.add_argument("--max-upload-mb", type=float, default=Limits.max_upload_mb, help="largest upload in MB "
                   "(default %(default)s)")
    d.add_argument("--max-megapixels", type=float, default=Limits.max_pixels / 1e6, help="largest photo in "
                   "megapixels (default %(default)s)")
    d.add_argument("--max-queries", type=int, default=Limits.max_queries, help="most queries per request "
                   "(default %(default)s)")
    d.add_argument("--max-queue", type=int, default=Limits.max_queue, help="requests that may wait at once "
                   "(default %(default)s)")
    d.set_defaults(func=_demo)

    c = sub.add_parser("configs", help="list the presets and the paper table rows they reproduce")
    c.set_defaults(func=_configs)

    e = sub.add_parser("evaluate", help="evaluate a preset on its dataset (resumable; shards over torchrun ranks)",
                       description="Evaluate a preset. Under torchrun (torchrun --nproc_per_node N -m car evaluate "
                                   "...) every rank takes a shard of the samples; rank 0 writes the results.")
    e.add_argument("--config", required=True)
    e.add_argument("--data-root", default=None, help="dataset folder (not needed for toy_* presets)")
    e.add_argument("--split")
    e.add_argument("--limit", type=int, help="only the first N samples (split over the ranks)")
    e.add_argument("--method", default="car", choices=METHODS, help=METHOD_HELP)
    e.add_argument("--proposer", help=PROPOSER_HELP)
    e.add_argument("--out", help="results JSON (default results/<config>.json)")
    e.add_argument("--device", default="auto", help=DEVICE_HELP + " (under torchrun, cuda: each rank on GPU "
                   "LOCAL_RANK, nccl)")
    e.add_argument("--precision", choices=PRECISIONS, help=PRECISION_HELP)
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=_evaluate)

    t = sub.add_parser("toy", help="the toy world: train the tiny CLIPs, report their numbers")
    tsub = t.add_subparsers(dest="toy_cmd", required=True)
    tt = tsub.add_parser("train")
    tt.add_argument("--size", default="b", help="b, l or b4")
    tt.add_argument("--steps", type=int)
    tt.add_argument("--seed", type=int, default=0)
    tt.add_argument("--stop-at", type=int, help="end at this step (the learning-rate schedule still spans --steps)")
    tt.add_argument("--out", help="checkpoint path (default: the user cache; car/toy/checkpoints/toy-<size>.pt "
                    "replaces the shipped one)")
    ts = tsub.add_parser("train-seg", help="train the mask-supervised toy segmenter of Table I (seen concepts)")
    ts.add_argument("--steps", type=int, default=300)
    ts.add_argument("--seed", type=int, default=0)
    ts.add_argument("--out", help="checkpoint path (default: the user cache; car/toy/checkpoints/toy-seg.pt "
                    "replaces the shipped one)")
    td = tsub.add_parser("designs", help="train each toy-CLIP design briefly and probe its attention (toy-world "
                         "chapter; minutes per design)")
    td.add_argument("names", nargs="*", help="designs (default: all of car.experiments.designs.DESIGNS)")
    td.add_argument("--steps", type=int, default=300)
    td.add_argument("--out", help="results JSON (default: the user cache; car/results/toy_designs.json ships it); "
                    "designs already in it are kept")
    tr = tsub.add_parser("report")
    tr.add_argument("--limit", type=int, help="images per split (default: the whole split)")
    tr.add_argument("--quiet", action="store_true")
    tb = tsub.add_parser("tables", help="recompute the cached toy analogues of the paper's tables")
    tb.add_argument("keys", nargs="*", help="table keys (1 2 3 4 5 6 7 8 I J); default: all")
    tb.add_argument("--out", help="folder of the results (default: the user cache; car/results/toy_tables ships them)")
    tp = tsub.add_parser("peers", help="every single-pass peer alone and CaR with every proposer on toy_voc, "
                         "toy_context and toy_ade (minutes; car/results/peers_toy.json ships it)")
    tp.add_argument("--out", help="results JSON (default: the user cache; car/results/peers_toy.json ships it)")
    tp.add_argument("--quiet", action="store_true")
    t.set_defaults(func=_toy)

    b = sub.add_parser("bench", help="time car against the official loop order and the floor (toy world, ~1 min)",
                       description="With no flags: the toy world, about a minute, progress on stderr. The real "
                                   "architectures (random-weight ViT-B/16 + ViT-L/14, tens of minutes on a CPU): "
                                   "--world real.")
    b.add_argument("--world", choices=["toy", "real", "both"], default="toy",
                   help="toy (default, about a minute), real (the long real-architecture run) or both")
    b.add_argument("--queries", type=int, help="queries of step 1 (default: toy 8, real 20)")
    b.add_argument("--repeats", type=int, help="timed rounds per path, median reported (default: toy 5, real 1)")
    b.add_argument("--images", type=int, help="distinct images per round (default: toy 3, real 1)")
    b.add_argument("--steps", type=int, default=2)
    b.add_argument("--out", default="results/bench.json")
    b.add_argument("--no-sweep", dest="sweep", action="store_false",
                   help="skip the growth sweeps (number of queries, image size)")
    b.add_argument("--sweep-queries", type=int, nargs="+", metavar="N",
                   help="query counts of the sweep (default: toy 5 10 20 40, real 5 20 80 150)")
    iso = b.add_mutually_exclusive_group()
    iso.add_argument("--isolate", dest="isolate", action="store_true", default=None,
                     help="one subprocess per path: peak memory per path (default for real)")
    iso.add_argument("--no-isolate", dest="isolate", action="store_false",
                     help="every path in this process, interleaved round by round (default for toy)")
    b.add_argument("--threads", type=int, help="torch CPU threads (default: toy 1, real torch's own)")
    b.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    b.add_argument("--precision", choices=["fp32", "fp16", "both"],
                   help="fp16 = CUDA autocast, needs --device cuda (default: both on CUDA, fp32 on CPU)")
    b.add_argument("--quiet", dest="progress", action="store_false", help="no progress lines on stderr")
    b.add_argument("--peers", nargs="?", const="results/peers_cost.json", metavar="OUT",
                   help="instead: the cost of every method (the single-pass peers, CaR, CaR over each peer's maps) "
                        "on the real architectures with random weights, each in its own process; writes OUT "
                        "(default results/peers_cost.json; car/results/peers_cost.json ships it)")
    b.set_defaults(func=_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, PermissionError, RuntimeError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
