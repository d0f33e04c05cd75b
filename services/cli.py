"""The `ntm` command: serve (embedded or one service), migrate, load reference data, mint a
token, print the GraphQL schema."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from services.registry import SERVICES
from services.runtime import create_embedded_app
from shared.auth import ROLES, TokenInvalid, mint_local_token
from shared.db import Database, upgrade
from shared.embedded import EmbeddedPostgres
from shared.logging import RequestContextMiddleware, configure_logging
from shared.settings import Environment, Settings

log = logging.getLogger("ntm")
EMBEDDED_DB = "ntm"


@contextlib.contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """DATABASE_URL when set; otherwise an embedded PostgreSQL in NTM_DATA_DIR, stopped on exit."""
    if settings.async_database_url:
        yield settings.async_database_url
        return
    if settings.env is Environment.production:
        sys.exit("DATABASE_URL is required when NTM_ENV=production (no embedded PostgreSQL)")
    server = EmbeddedPostgres.start(settings.data_dir)
    try:
        server.ensure_database(EMBEDDED_DB)
        yield server.url(EMBEDDED_DB)
    finally:
        server.stop()


def _run(app: ASGIApp, settings: Settings, host: str | None, port: int | None) -> None:
    uvicorn.run(
        RequestContextMiddleware(app),
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        proxy_headers=True,
        server_header=False,
    )


# `ntm serve --workers N`: what each worker process builds (uvicorn starts workers by import
# string), told by the parent through the environment
WORKER_TARGET = "NTM_SERVE_TARGET"  # "" embedded, "gateway", or a service's name


def worker_app() -> ASGIApp:
    """The app of one worker of `ntm serve --workers N`; its parent migrated the database."""
    settings = Settings()
    configure_logging(settings.log_level, json=settings.log_json)
    target = os.environ.get(WORKER_TARGET, "")
    if target == "gateway":
        from services.gateway.app import create_app as create_gateway

        return RequestContextMiddleware(create_gateway(settings))
    url = settings.async_database_url
    if url is None:  # the parent set it
        raise RuntimeError("DATABASE_URL is not set for the worker")
    if target:
        return RequestContextMiddleware(SERVICES[target].create_app(settings, None))
    return RequestContextMiddleware(create_embedded_app(settings, url, prepare=False))


def _run_workers(
    target: str, workers: int, settings: Settings, host: str | None, port: int | None
) -> None:
    """`workers` processes sharing the port, each building `worker_app`."""
    os.environ[WORKER_TARGET] = target
    uvicorn.run(
        "services.cli:worker_app",
        factory=True,
        workers=workers,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        proxy_headers=True,
        server_header=False,
    )


async def _prepare(url: str, names: list[str], *, reference: bool) -> None:
    db = Database.from_url(url)
    try:
        for name in names:
            await upgrade(db.engine, SERVICES[name].tree)
        if reference:
            for name in names:
                loader = SERVICES[name].load_reference
                if loader is not None:
                    await loader(db)
    finally:
        await db.dispose()


def _exit_on_sigterm() -> None:
    """uvicorn re-raises the signal it stopped on once it has shut down; turning SIGTERM into
    SystemExit lets the embedded PostgreSQL be stopped by the `finally` that started it."""

    def handler(signum: int, frame: object) -> None:
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    _exit_on_sigterm()
    workers = args.workers or settings.workers
    if workers < 1:
        sys.exit("--workers must be at least 1")
    if args.service is None:
        with database_url(settings) as url:
            if workers == 1:
                _run(create_embedded_app(settings, url), settings, args.host, args.port)
                return
            # migrate and load once here; the workers start on the prepared database
            asyncio.run(_prepare(url, list(SERVICES), reference=True))
            os.environ["DATABASE_URL"] = url
            _run_workers("", workers, settings, args.host, args.port)
        return
    if args.service == "gateway":
        if workers > 1:
            _run_workers("gateway", workers, settings, args.host, args.port)
            return
        from services.gateway.app import create_app as create_gateway

        _run(create_gateway(settings), settings, args.host, args.port)
        return
    spec = SERVICES[args.service]
    service_url = settings.async_database_url
    if service_url is None:
        sys.exit(f"DATABASE_URL is required for `ntm serve {args.service}`")
    if not args.no_migrate:
        asyncio.run(_prepare(service_url, [spec.name], reference=True))
    if workers > 1:
        _run_workers(spec.name, workers, settings, args.host, args.port)
        return
    _run(spec.create_app(settings, None), settings, args.host, args.port)


def _service_names(args: argparse.Namespace) -> list[str]:
    unknown = [n for n in args.services if n not in SERVICES]
    if unknown:
        sys.exit(f"unknown service(s): {', '.join(unknown)}; known: {', '.join(SERVICES)}")
    return list(args.services) or list(SERVICES)


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> None:
    names = _service_names(args)
    with database_url(settings) as url:
        asyncio.run(_prepare(url, names, reference=False))


def cmd_load_reference(args: argparse.Namespace, settings: Settings) -> None:
    names = _service_names(args)
    with database_url(settings) as url:
        asyncio.run(_prepare(url, names, reference=True))


def cmd_token(args: argparse.Namespace, settings: Settings) -> None:
    """Print a bearer token signed with the local key (embedded and development modes)."""
    if settings.auth_jwks_url is not None:
        sys.stderr.write(
            "warning: NTM_AUTH_JWKS_URL is set: the services verify tokens with the identity"
            " provider's keys and will refuse this one\n"
        )
    try:
        token = mint_local_token(
            settings,
            role=args.role,
            unit=args.unit,
            ttl_s=args.ttl,
            scopes=[s for group in args.scope for s in group.split()],
            sectors=args.sector,
            subject=args.subject,
        )
    except TokenInvalid as exc:
        sys.exit(f"ntm token: {exc.reason}")
    sys.stdout.write(token + "\n")


def cmd_schema(args: argparse.Namespace, settings: Settings) -> None:
    """Print the gateway's GraphQL schema as SDL: `ntm schema > schema.graphql`."""
    from services.gateway.schema import build_schema

    sys.stdout.write(build_schema(settings).as_str() + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ntm", description="Nông thôn mới backend")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve everything (embedded) or one service")
    serve.add_argument("service", nargs="?", choices=[*SERVICES, "gateway"])
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--no-migrate", action="store_true", help="one service: skip migrations")
    serve.add_argument(
        "--workers",
        type=int,
        help="worker processes sharing the port (NTM_WORKERS, 1): about one per core",
    )
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="run migrations to head")
    migrate.add_argument("services", nargs="*", metavar="SERVICE", help=", ".join(SERVICES))
    migrate.set_defaults(func=cmd_migrate)

    ref = sub.add_parser(
        "load-reference", help="migrate and load the national reference data (idempotent)"
    )
    ref.add_argument("services", nargs="*", metavar="SERVICE", help=", ".join(SERVICES))
    ref.set_defaults(func=cmd_load_reference)

    token = sub.add_parser(
        "token",
        help="print a bearer token signed with the local key (<data dir>/auth)",
        description="Mint a token for the embedded mode: a role bound to a unit (and everything"
        " below it). Use it as 'Authorization: Bearer <token>'.",
    )
    token.add_argument("--role", required=True, choices=ROLES)
    token.add_argument(
        "--unit", help="official unit code (2, 3 or 5 digits); omit for the whole country"
    )
    token.add_argument("--ttl", type=int, default=3600, help="seconds of validity (3600)")
    token.add_argument(
        "--scope", action="append", default=[], help="an integrator scope, e.g. import:transfers"
    )
    token.add_argument("--sector", action="append", default=[], help="an appraiser's sector")
    token.add_argument("--subject", help="the person or client (default: ROLE@UNIT)")
    token.set_defaults(func=cmd_token)
    schema = sub.add_parser("schema", help="print the GraphQL schema (SDL) the gateway serves")
    schema.set_defaults(func=cmd_schema)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level, json=settings.log_json)
    args.func(args, settings)


if __name__ == "__main__":
    main()
