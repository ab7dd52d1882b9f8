"""`python -m sim` / `cfkafka sim`: serve the simulator until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys

from sim.auth import is_token_format
from sim.clock import VirtualClock
from sim.config import SimConfig
from sim.perms import parse_limited_token
from sim.server import run_sim


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    d = SimConfig()
    p = argparse.ArgumentParser(prog="python -m sim", description="Cloudflare API simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8787, help="0 = pick a free port")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--account-id", default=d.account_id)
    p.add_argument("--token", default=d.api_token, help="the valid user API token")
    p.add_argument("--initial-events", type=int, default=d.initial_events)
    p.add_argument("--history-s", type=float, default=d.history_s)
    p.add_argument("--clock-offset-s", type=float, default=0.0,
                   help="the simulator's clock = wall clock + this (negative: the past); "
                        "POST /__sim/clock moves it")
    p.add_argument("--events-per-second", type=float, default=d.events_per_second)
    p.add_argument("--rate-limit", type=int, default=d.rate_limit)
    p.add_argument("--rate-window-s", type=float, default=d.rate_window_s)
    p.add_argument("--rate-block-s", type=float, default=None,
                   help="block after exceeding the limit (default: the window)")
    p.add_argument("--limited-token", action="append", default=[], metavar="TOKEN=PERMS",
                   help="a token holding only these permissions (names or slugs, separated "
                        "by ',' or ';', e.g. account_settings_read); repeatable")
    p.add_argument("--audit-v2-cursor-style", choices=("cursor", "after"),
                   default=d.audit_v2_cursor_style,
                   help="audit v2 next cursor in result_info.cursor or result_info.cursors.after")
    p.add_argument("--zone-id", action="append", default=[], metavar="ZONE_ID",
                   help=f"a zone of the account (32 lowercase hex); repeatable "
                        f"(default {d.zone_ids[0]})")
    p.add_argument("--logpull-rps", type=float, default=d.logpull_rps,
                   help="Logpull records received per second per zone")
    p.add_argument("--logpull-zone-rate-limit", type=int, default=d.logpull_zone_rate_limit,
                   help="Logpull requests per minute per zone")
    p.add_argument("--logpull-gzip-level", type=int, default=d.logpull_gzip_level,
                   choices=range(0, 10), help="zlib level of gzip Logpull responses")
    p.add_argument("--graphql-eps", type=float, default=d.graphql_eps,
                   help="GraphQL firewall events per second per zone")
    p.add_argument("--graphql-max-page-size", type=int, default=d.graphql_max_page_size)
    p.add_argument("--graphql-max-duration", type=int, default=d.graphql_max_duration_s,
                   help="longest GraphQL query window, seconds")
    p.add_argument("--graphql-max-fields", type=int, default=d.graphql_max_fields)
    p.add_argument("--graphql-not-older-than", type=int, default=d.graphql_not_older_than_s,
                   help="GraphQL retention, seconds")
    p.add_argument("--graphql-rate-limit", type=int, default=d.graphql_rate_limit,
                   help="GraphQL queries per 5 minutes per credential")
    return p


def _limited(parser: argparse.ArgumentParser, specs: list[str]) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for spec in specs:
        try:
            token, names = parse_limited_token(spec)
        except ValueError as exc:
            parser.error(str(exc))
        if not is_token_format(token):
            parser.error(f"--limited-token: {token!r} is not in a Cloudflare token format")
        out[token] = names
    return out


def _zones(parser: argparse.ArgumentParser, zones: list[str]) -> tuple[str, ...]:
    for zone in zones:
        if not re.fullmatch(r"[0-9a-f]{32}", zone):
            parser.error(f"--zone-id: {zone!r} is not 32 lowercase hex characters")
    return tuple(dict.fromkeys(zones)) or SimConfig().zone_ids


async def _serve(config: SimConfig, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with run_sim(config, host, port) as sim:
        print(f"SIM READY {sim.base_url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Parse options, serve until signalled, return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    config = SimConfig(
        account_id=args.account_id, api_token=args.token, seed=args.seed,
        initial_events=args.initial_events, history_s=args.history_s,
        events_per_second=args.events_per_second, rate_limit=args.rate_limit,
        rate_window_s=args.rate_window_s, rate_block_s=args.rate_block_s,
        limited_tokens=_limited(parser, args.limited_token),
        audit_v2_cursor_style=args.audit_v2_cursor_style,
        zone_ids=_zones(parser, args.zone_id), logpull_rps=args.logpull_rps,
        logpull_zone_rate_limit=args.logpull_zone_rate_limit,
        logpull_gzip_level=args.logpull_gzip_level,
        graphql_eps=args.graphql_eps, graphql_max_page_size=args.graphql_max_page_size,
        graphql_max_duration_s=args.graphql_max_duration,
        graphql_max_fields=args.graphql_max_fields,
        graphql_not_older_than_s=args.graphql_not_older_than,
        graphql_rate_limit=args.graphql_rate_limit,
        clock=VirtualClock(offset_s=args.clock_offset_s),
    )
    asyncio.run(_serve(config, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
