"""What `kubectl exec` runs in a lab workload: ``python -m lab exec <ns> <pod> <container> --
<command...>``, started by the cluster's lab kubelet (lab/kubelet.py) with the exec's stdin,
stdout and stderr; its exit code is the command's exit code kubectl reports.

Lab pods have no containers, so nothing runs on the host: the commands a federation check needs
are answered here, as the container's tools would answer them, and anything else fails as a
container without that executable does (exit 126). ``sh -c`` / ``bash -c`` take one simple
command (no pipes or lists).

``curl`` is where the data-path probe plugs in (issue 14, item 5): it will send the request from
the workload's proxy and answer as curl does (``-w '%{http_code}'``, curl's exit codes). Until
then no request leaves a lab pod: curl fails as one that cannot connect (exit 7).
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit

USAGE = "usage: python -m lab exec <namespace> <pod> <container> -- <command> [args...]"
# What a container runtime answers for an executable the image does not have (runc, CRI-O).
NOT_FOUND = ("OCI runtime exec failed: exec failed: unable to start container process: exec: "
             "\"{0}\": executable file not found in $PATH: unknown")


@dataclass(frozen=True)
class Target:
    namespace: str
    pod: str
    container: str


def run(target: Target, argv: list[str], stdin, stdout, stderr) -> int:
    """Answer one command as the container would; returns its exit code."""
    if not argv:
        print(NOT_FOUND.format(""), file=stderr)
        return 126
    program, args = argv[0].rsplit("/", 1)[-1], argv[1:]
    if program in ("sh", "bash") and args[:1] == ["-c"] and len(args) >= 2:
        return _shell(target, args[1], stdin, stdout, stderr)
    if program == "echo":
        newline = args[:1] != ["-n"]
        stdout.write(" ".join(args if newline else args[1:]) + ("\n" if newline else ""))
        return 0
    if program == "true":
        return 0
    if program == "false":
        return 1
    if program == "cat" and not args:
        for chunk in iter(lambda: stdin.read(65536), ""):
            stdout.write(chunk)
        return 0
    if program == "curl":
        return curl(target, args, stdout, stderr)
    print(NOT_FOUND.format(argv[0]), file=stderr)
    return 126


def _shell(target: Target, script: str, stdin, stdout, stderr) -> int:
    try:
        words = shlex.split(script)
    except ValueError as e:
        print(f"sh: syntax error: {e}", file=stderr)
        return 2
    if any(w in ("|", "||", "&&", ";", "&") or w.endswith(";") for w in words):
        print("sh: the lab runs one simple command per exec (no pipes or lists)", file=stderr)
        return 2
    if words[:1] == ["exit"]:
        try:
            return int(words[1]) & 0xFF if len(words) > 1 else 0
        except ValueError:
            print(f"sh: exit: Illegal number: {words[1]}", file=stderr)
            return 2
    if words and words[0] not in ("echo", "true", "false", "cat", "curl"):
        print(f"sh: 1: {words[0]}: not found", file=stderr)
        return 127
    return run(target, words, stdin, stdout, stderr)


# curl options that take a value (short, and long) - the rest are flags.
_CURL_VALUE_SHORT = set("AbcCdeEFHKmoqrTuUwxXYyz")
_CURL_VALUE_LONG = {"--output", "--write-out", "--header", "--data", "--request", "--max-time",
                    "--connect-timeout", "--user", "--resolve", "--connect-to", "--cacert",
                    "--cert", "--key", "--proxy", "--user-agent", "--retry", "--url"}


@dataclass(frozen=True)
class CurlRequest:
    url: str
    silent: bool
    show_error: bool
    write_out: str | None
    options: dict[str, str]


def parse_curl(args: list[str]) -> CurlRequest | None:
    """The request of a curl command line (None without a URL)."""
    url, flags, options = None, set(), {}
    it = iter(args)
    for arg in it:
        if arg.startswith("--") and arg != "--":
            name, eq, value = arg.partition("=")
            if name in _CURL_VALUE_LONG:
                options[name] = value if eq else next(it, "")
            else:
                flags.add(name)
        elif arg.startswith("-") and len(arg) > 1:
            for i, letter in enumerate(arg[1:], start=1):
                if letter in _CURL_VALUE_SHORT:
                    options[f"-{letter}"] = arg[i + 1:] or next(it, "")
                    break
                flags.add(f"-{letter}")
        elif url is None:
            url = arg
    url = url or options.get("--url")
    if url is None:
        return None
    return CurlRequest(url=url if "://" in url else f"http://{url}",
                       silent=bool(flags & {"-s", "--silent"}),
                       show_error=bool(flags & {"-S", "--show-error"}),
                       write_out=options.get("-w", options.get("--write-out")), options=options)


def curl(target: Target, args: list[str], stdout, stderr) -> int:
    """curl from ``target``: the probe's plug point (see the module doc). No probe yet: fails to
    connect, as curl does (exit 7; the message unless -s without -S; -w with code 000)."""
    request = parse_curl(args)
    if request is None:
        print("curl: (2) no URL specified", file=stderr)
        return 2
    url = urlsplit(request.url)
    port = url.port or (443 if url.scheme == "https" else 80)
    if not request.silent or request.show_error:
        print(f"curl: (7) Failed to connect to {url.hostname} port {port} after 0 ms: "
              "Couldn't connect to server", file=stderr)
    if request.write_out:
        stdout.write(request.write_out.replace("%{http_code}", "000")
                     .replace("%{response_code}", "000").replace("\\n", "\n"))
    return 7


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[3] != "--":
        print(USAGE, file=sys.stderr)
        return 2
    target = Target(*argv[:3])
    try:
        return run(target, argv[4:], sys.stdin, sys.stdout, sys.stderr)
    finally:
        sys.stdout.flush()
