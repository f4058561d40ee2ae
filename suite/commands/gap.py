"""``run_suite.py gap``: the amortization gap of stored runs (suite.analyses.amortization_gap)."""
from __future__ import annotations

from ..errors import ConfigError
from .common import add_data_arguments, add_out_argument, store_dir

NAME = "gap"
HELP = ("amortization gap of stored runs: re-infer their codes with LCA/FISTA on the frozen "
        "dictionary")


def add_arguments(p):
    add_out_argument(p)
    p.add_argument("--methods", default="all", help="runs of these methods ('all' or a comma list)")
    p.add_argument("--dataset", default=None, help="runs on these datasets (default: all)")
    p.add_argument("--lams", default=None, help="λ grid, e.g. 0.05,0.1,0.5,1 (default: the profile's)")
    p.add_argument("--solvers", default=None, help="lca,fista (default: the profile's)")
    p.add_argument("--max-val", type=int, default=None, help="validation samples used (default: the profile's)")
    p.add_argument("--nonneg", action="store_true", help="non-negative codes")
    p.add_argument("--force", action="store_true", help="recompute runs that already have the analysis")
    p.add_argument("--device", default="auto", help="auto (default) | cpu | cuda | cuda:N")
    add_data_arguments(p)


def run(args) -> int:
    import torch

    import reports
    from ..analyses.amortization_gap import applies_to, gap_settings, run_gap
    from ..data.loading import load_dataset
    from ..devices import resolve_device
    from ..errors import UnknownNameError
    from ..evaluation import validation_subset
    from ..settings import EvalSettings
    from ..registry import METHODS, discover
    from ..store import Store

    discover(args.plugins)
    out = store_dir(args)
    store = Store(out)
    methods = None if args.methods == "all" else set(args.methods.split(","))
    datasets = None if args.dataset is None else set(args.dataset.split(","))
    device = resolve_device(args.device)
    try:
        lams = [float(v) for v in args.lams.split(",")] if args.lams else None
    except ValueError:
        raise ConfigError(f"malformed --lams {args.lams!r}: expected numbers, e.g. 0.1,0.5,1") from None
    done = 0
    for record in store.records():
        spec = record["spec"]
        if (methods and spec["method"] not in methods) or (datasets and spec["dataset"] not in datasets):
            continue
        try:  # applicability is the method's declared capabilities, not its family label
            cls = METHODS.get(spec["method"])
        except UnknownNameError:
            print(f"skipped {spec['method']} on {spec['dataset']} [{record['key']}]: the method is "
                  "not registered here, so whether the gap applies to it is unknown "
                  "(--plugins DIR to load it)")
            continue
        if not applies_to(cls):
            continue
        if (record.get("traces") or {}).get("amortization_gap") and not args.force:
            continue
        dictionary = store.arrays(record["key"]).get("dictionary")
        if dictionary is None:
            continue
        settings = gap_settings(spec["eval"]) or gap_settings({"amortization_gap": True})
        settings.update({k: v for k, v in {"lams": lams, "solvers": args.solvers.split(",") if args.solvers else None,
                                           "max_val": args.max_val}.items() if v is not None})
        settings["nonneg"] = settings["nonneg"] or args.nonneg
        ds = load_dataset(spec["dataset"], args.data_dir, args.cache_dir)
        own = EvalSettings.from_mapping(spec["eval"], where=f"run {record['key']}: eval")
        x, _ = validation_subset(ds, own.max_val, spec["seed"])
        rows = run_gap(torch.as_tensor(dictionary, device=device), x.to(device), settings,
                       spec["seed"])
        traces = dict(record.get("traces") or {}, amortization_gap=rows)
        store.update_record(record["key"], traces=traces)
        best = min(rows, key=lambda r: r["sse"])
        print(f"{spec['method']} on {spec['dataset']} [{record['key']}]: own sse {record['metrics']['sse']:.4g}, "
              f"re-inferred sse {best['sse']:.4g} ({best['solver']}, λ={best['lam']})")
        done += 1
    print(f"{done} runs analysed; tables and figures: {out / 'reports'}")
    reports.build(out)
    return 0
