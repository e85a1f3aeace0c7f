"""The container engines' command-line options that take no value: the one list that both the `docker run` reader
(deploy/dockerrun.py: which word is the image) and the redactor (redact.py: whether a `--secret` is the engine's or
the program's after the image) need. A leaf module: redact.py imports nothing else of ours."""

from __future__ import annotations

# docker's and podman's run/create options that take no value (docker 28 + podman 4/5); an option missing here is read
# as taking the next word
RUN_BOOL_FLAGS = frozenset({
    "-d", "--detach", "-i", "--interactive", "-t", "--tty", "--rm", "--privileged", "--read-only",
    "--init", "-P", "--publish-all", "--no-healthcheck", "--oom-kill-disable", "--sig-proxy",
    "--disable-content-trust", "--replace", "--read-only-tmpfs", "--no-hosts", "-q", "--quiet",
    "--rootfs", "--env-host", "--http-proxy", "--tls-verify", "--help",
    # docker 28.1's `--use-api-socket`, podman's `--passwd` (4.4+), `--rmi` and `--unsetenv-all` (gsafe50: each was read
    # as taking the image, so a `--secret X` after the image was taken for the engine's and printed)
    "--use-api-socket", "--passwd", "--rmi", "--unsetenv-all",
})  # fmt: skip
# the short ones, which may be glued (`-dit`)
SHORT_BOOL = frozenset("dtiPq")
# `docker compose run`'s own options that take no value
COMPOSE_RUN_BOOL_FLAGS = frozenset({
    "--no-deps", "--service-ports", "--use-aliases", "--build", "--remove-orphans", "--quiet-pull",
    "--no-TTY", "--quiet-build", "--dry-run", "--tty", "--interactive",
})  # fmt: skip
# compose run's short ones (`-T`, `--no-TTY`, besides docker run's)
COMPOSE_RUN_SHORT_BOOL = SHORT_BOOL | {"T"}
# `docker compose`'s own options before its subcommand (`docker compose -f x.yml run svc`) that take no value
COMPOSE_GLOBAL_BOOL_FLAGS = frozenset(
    {"--dry-run", "--all-resources", "--compatibility", "--verbose", "--no-ansi", "--help"}
)
# the engine's global options before the subcommand that take no value (docker's and podman's: `--noout`, `--syslog`,
# `--transient-store`)
GLOBAL_BOOL_FLAGS = frozenset(
    {"-D", "--debug", "--tls", "--tlsverify", "--remote", "-r", "--noout", "--syslog", "--transient-store"}
)


def short_bools_end(word: str, bools: frozenset[str] = SHORT_BOOL) -> int:
    """Where the value-less short options glued at the start of `-itv` end (pflag reads `-itv X` as -i -t -v X): the
    index in `word` of the first letter that is no boolean, len(word) when all are."""
    j = 1
    while j < len(word) and word[j] in bools:
        j += 1
    return j
