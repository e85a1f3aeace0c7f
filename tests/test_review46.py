"""review46: bugs found reviewing gsafe46, gnew46 and glearn46a-d."""

from __future__ import annotations

import time

from tpdoctor.redact import redact_line


# -- redact: gsafe46's netrc gate and login-command -p ----------------------------------------------------------------
def test_netrc_user_keyword_and_extra_tokens_keep_the_password_hidden() -> None:
    """gsafe46's _netrc_line wanted keyword pairs only: `user` (Python's netrc's name for `login`) or any other word
    after the entry made the line prose, and the password was printed."""
    assert redact_line("machine h user u password Walrus77") == "machine h user u password <redacted>"
    assert redact_line("machine h login u password Walrus77 force yes") == (
        "machine h login u password <redacted> force yes"
    )
    # gsafe46's prose stays prose
    for line in ("default password policy: Strict123", "machine learning password reset: done"):
        assert redact_line(line) == line, line


def test_login_dash_p_value_with_a_shell_separator_is_hidden_whole() -> None:
    """gsafe46 cut the login command at the first `;`, `&` or `|`, also inside the -p value: `-p Xy7;kL2&p` printed
    `;kL2&p`."""
    cases = {
        "docker login -u admin -p Xy7;kL2&p registry.io": "docker login -u admin -p <redacted> registry.io",
        "sshpass -p ab|cd ssh host": "sshpass -p <redacted> ssh host",
        "docker login -p Xy;docker login -p Zz9q r": "docker login -p <redacted> login -p <redacted> r",
        # gsafe46's cases hold
        "docker login -u me -p Walrus77 reg && docker run -p 8080:80 img": (
            "docker login -u me -p <redacted> reg && docker run -p 8080:80 img"
        ),
        "docker login -p A1 r; docker login -p B2 r": "docker login -p <redacted> r; docker login -p <redacted> r",
        "docker login -p <redacted> r": "docker login -p <redacted> r",
    }
    for line, want in cases.items():
        assert redact_line(line) == want, line


def test_login_dash_p_stays_linear_on_64k_lines() -> None:
    n = 65536
    for line in (
        "docker login ; " * (n // 15) + "-p x",
        "docker login -p a;" * (n // 18),
        "sshpass -p x|" * (n // 13),
        "docker login " + "-p a;b " * (n // 7),
    ):
        t = time.perf_counter()
        redact_line(line)
        assert time.perf_counter() - t < 1.0, line[:40]


def test_engine_global_options_before_login_keep_the_dash_p_hidden() -> None:
    """`docker --config DIR login -p x` printed the password: the login command was only `docker login` adjacent."""
    cases = {
        "docker --config /tmp/c login -u me -p Walrus77 reg": "docker --config /tmp/c login -u me -p <redacted> reg",
        "podman --log-level debug login -u me -p Walrus77 r": "podman --log-level debug login -u me -p <redacted> r",
        "docker --config=/tmp/c login -pWalrus77 r": "docker --config=/tmp/c login -p<redacted> r",
        "helm --debug registry login -u me -p Walrus77 r": "helm --debug registry login -u me -p <redacted> r",
        # no login command: a port stays
        "docker -H tcp://h:2375 run -p 8080:80 img login": "docker -H tcp://h:2375 run -p 8080:80 img login",
    }
    for line, want in cases.items():
        assert redact_line(line) == want, line
    n = 65536
    for line in ("docker " + "-a b " * (n // 5) + " login", "docker -a=b -c d " * (n // 17) + "login -p x"):
        t = time.perf_counter()
        redact_line(line)
        assert time.perf_counter() - t < 1.0, line[:40]


def test_a_quoted_login_password_and_a_user_line_of_netrc_are_hidden() -> None:
    """`docker login -p 'Xy7;kL2'` (as `set -x` prints it) and a netrc entry's `user u password X` line were printed."""
    cases = {
        "+ docker login -u admin -p 'Xy7;kL2' registry.io": "+ docker login -u admin -p <redacted> registry.io",
        'sshpass -p "Wal rus77" ssh h': "sshpass -p <redacted> ssh h",
        "docker login -p 'Xy7;kL2' r; docker run -p 8080:80 img": (
            "docker login -p <redacted> r; docker run -p 8080:80 img"
        ),
        "  user u password Walrus77": "  user u password <redacted>",
    }
    for line, want in cases.items():
        assert redact_line(line) == want, line
    n = 65536
    for line in ("docker login " + "-p '" * (n // 4), "docker login " + "-p ' ;" * (n // 6), "user u password " * (n // 16)):
        t = time.perf_counter()
        redact_line(line)
        assert time.perf_counter() - t < 1.0, line[:40]


# -- signatures: glearn46d's docker-run fact ----------------------------------------------------------------------------
def test_g46d_docker_run_no_npu_node_is_linear_and_matches_as_before() -> None:
    """glearn46d's `[^\\n]*?\\b(docker|podman)\\s+run\\b[^\\n]*?\\b(rknn…)` retried the second gap from every launcher word:
    a 64 KiB line of `docker run ` took ~20 s (explain of that one line: 12.8 s against 2.2 s)."""
    from tpdoctor.explain.signatures import knowledge_base

    fact = next(f for f in knowledge_base().facts if f.id == "g46d-docker-run-no-npu-node")
    rx = fact.regex
    for line in ("docker run " * 5958, "podman run rknn " * 4096, "docker  run " * 5461):
        t = time.perf_counter()
        rx.search(line)
        assert time.perf_counter() - t < 0.5, line[:30]
    m = rx.search("sudo docker run -it --rm -v /x:/x img python3 rknn_test.py docker run x")
    assert m is not None and m.group("docker_run_no_npu_node") == "docker run" and m.start("docker_run_no_npu_node") == 5
    assert rx.search("docker run --device /dev/rknpu img rknn_test.py") is None
    assert rx.search("docker run img x; podman run rk3588-img") is not None
    assert rx.search("docker run img x") is None
