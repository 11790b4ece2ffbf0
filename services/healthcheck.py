"""The liveness probe a container runs: ``python -m services.healthcheck SERVICE``.

It imports only that service's settings (not the whole command line, which loads every broker and
data library), so the probe answers well inside the HEALTHCHECK timeout on a busy host.
"""

from __future__ import annotations

import importlib
import sys

# service: (settings module, settings class, liveness path)
PROBES = {
    "feed": ("services.feed.config", "FeedSettings", "/healthz"),
    "ml": ("services.ml.config", "MLSettings", "/healthz"),
    "risk": ("services.risk.config", "RiskSettings", "/healthz"),
    "executor": ("services.executor.config", "ExecutorSettings", "/healthz"),
    "brain": ("services.brain.config", "BrainSettings", "/healthz"),
    "dashboard": ("services.dashboard.config", "DashboardSettings", "/_stcore/health"),
}


def probe(name: str, timeout: float = 3.0) -> tuple[bool, str]:
    """Ask the service on this host whether it is alive; return the verdict and a one-line reason."""
    import httpx

    if name not in PROBES:
        return False, f"unknown service {name!r}; choose from {', '.join(PROBES)}"
    module, settings_class, path = PROBES[name]
    settings = getattr(importlib.import_module(module), settings_class)()
    try:
        response = httpx.get(f"http://127.0.0.1:{settings.port}{path}", timeout=timeout)
    except httpx.HTTPError as exc:
        return False, f"{name}: unreachable: {exc}"
    if response.status_code != 200:
        return False, f"{name}: HTTP {response.status_code}"
    return True, f"{name}: ok"


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 1:
        print("usage: python -m services.healthcheck SERVICE", file=sys.stderr)
        return 2
    alive, reason = probe(arguments[0])
    print(reason, file=sys.stdout if alive else sys.stderr)
    return 0 if alive else 1


if __name__ == "__main__":
    sys.exit(main())
