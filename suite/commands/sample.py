"""``run_suite.py sample``: draw samples from a stored run's checkpoint into a PNG."""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, SuiteError
from .common import add_out_argument, add_plugins_argument, store_dir

NAME = "sample"
HELP = "draw samples from a stored run's checkpoint into a PNG (bihm: ancestral and Gibbs)"


def add_arguments(p):
    p.add_argument("method", help="the run's method; it must declare the Sampling capability "
                                  "(e.g. bihm)")
    p.add_argument("--run", required=True, metavar="KEY", help="the run's key (or a unique prefix)")
    add_out_argument(p)
    p.add_argument("-n", type=int, default=64, help="samples per panel (default: 64)")
    p.add_argument("--sweeps", type=int, default=20, help="Gibbs sweeps (default: 20)")
    p.add_argument("--proposals", type=int, default=100,
                   help="candidates per proposal distribution of each Gibbs update (default: 100)")
    p.add_argument("--to", default=None, help="PNG path (default: OUT/reports/samples_<method>_<key>.png)")
    p.add_argument("--device", default="cpu", help="cpu (default) | auto | cuda | cuda:N")
    add_plugins_argument(p)


def run(args) -> int:
    from ..capabilities import Sampling
    from ..registry import METHODS, discover
    from ..runner import restore_method
    from ..store import Store

    discover(args.plugins)
    cls = METHODS.get(args.method)
    if not issubclass(cls, Sampling):
        able = [n for n, c in METHODS.items() if issubclass(c, Sampling)]
        raise SuiteError(f"{args.method} cannot draw samples: it does not declare the Sampling "
                         f"capability (suite/capabilities.py). Methods that can: "
                         f"{', '.join(able) or 'none'}.")
    if min(args.n, args.sweeps, args.proposals) < 1:
        raise ConfigError("-n, --sweeps and --proposals must be positive integers.")
    store = Store(store_dir(args))
    record = store.record(args.run)
    if record["spec"]["method"] != args.method:
        raise SuiteError(f"run {record['key']} is a {record['spec']['method']} run, not {args.method}.")
    method, record = restore_method(store, record["key"], args.device)
    to = Path(args.to) if args.to else store.root / "reports" / f"samples_{args.method}_{record['key']}.png"
    print(f"wrote {method.sample_grid(to, n=args.n, sweeps=args.sweeps, proposals=args.proposals)}")
    return 0
