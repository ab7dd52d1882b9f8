"""``cfkafka streams`` / ``python -m streams``: run the Faust worker for ``streams.app``."""

from __future__ import annotations

import sys

#: Options of the ``faust`` command itself (they must precede the ``worker`` subcommand).
_GLOBAL_WITH_VALUE = {
    "-D",
    "--datadir",
    "-W",
    "--workdir",
    "-L",
    "--loop",
    "-f",
    "--logfile",
    "-l",
    "--loglevel",
    "--console-port",
    "--blocking-timeout",
}
_GLOBAL_FLAGS = {"--debug", "--no-debug", "-q", "--quiet", "--no-quiet", "--json"}


def faust_argv(argv: list[str]) -> list[str]:
    """``faust -A streams.app [global opts] worker --without-web [worker opts]``.

    Options the ``faust`` command owns (``--datadir``, ``-l``, ...) are moved in front of
    ``worker``; everything else is passed to ``worker``. Log level defaults to info.
    """
    global_opts: list[str] = []
    worker_opts: list[str] = []
    args = iter(argv)
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in _GLOBAL_WITH_VALUE:
            global_opts.append(arg)
            if "=" not in arg:
                global_opts.append(next(args, ""))
        elif name in _GLOBAL_FLAGS:
            global_opts.append(arg)
        else:
            worker_opts.append(arg)
    if not any(o.split("=", 1)[0] in {"-l", "--loglevel"} for o in global_opts):
        global_opts += ["-l", "info"]
    if "--without-web" not in worker_opts and "--with-web" not in worker_opts:
        worker_opts.insert(0, "--without-web")
    return ["-A", "streams.app", *global_opts, "worker", *worker_opts]


def main(argv: list[str] | None = None) -> int:
    """Run the worker until it is stopped; return its exit code."""
    from faust.cli.faust import cli

    args = faust_argv(list(sys.argv[1:] if argv is None else argv))
    try:
        cli.main(args=args, prog_name="cfkafka streams", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
