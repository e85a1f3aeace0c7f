"""The one redactor: secret *shapes* in any text tpdoctor prints or writes, not only secret names.

It sits at the bottom of the layer order (imports nothing of ours but the constant table engine_flags.py) so every
output channel can use it: the CLI wraps stdout/stderr in `RedactingStream` (text, JSON, SARIF, diffs, explain's quoted
log lines, `run`'s messages), and the writers of snapshots and `--explain-log` call `redact_text`.
The workload's own output under `tpdoctor run` is passed through untouched: it is not ours.

Shapes (each keeps what identifies the setting and replaces only the secret with `<redacted>`):
- URLs with credentials `scheme://user:password@host` (DATABASE_URL, proxies, git remotes);
- HTTP `Authorization: Bearer|Basic|Token …`, `Proxy-Authorization`, `--header 'Authorization: …'`;
- key=value, key: value and "key": "value" where the key looks secret (TOKEN, SECRET, PASSWORD,
  PASSWD, PWD, KEY, CREDENTIAL, CRED(S), AUTH, PAT, COOKIE, SESSION, PRIVATE, …);
- well-known token prefixes: Hugging Face `hf_`, GitHub `ghp_ gho_ ghu_ ghs_ ghr_ github_pat_`,
  GitLab `glpat-`, OpenAI/Anthropic `sk-`, Slack `xox[abprs]-`, AWS access key ids `AKIA…/ASIA…`,
  Google API keys `AIza…`, JWTs `eyJ….eyJ….…`, NGC `nvapi-`, npm `npm_`, PyPI `pypi-AgE…`;
- credentials in a command's own flags: `curl -u user:pw` / `--user` / `--proxy-user`, `docker login -p`, `sshpass -p`,
  `mysql -ppw`; ~/.netrc's `machine h login u password pw`; an Azure SAS URL's `sig=`;
- PEM private key blocks (`-----BEGIN … PRIVATE KEY-----` to `-----END …-----`, across lines).
"""

from __future__ import annotations

import bisect
import io
import re
from collections.abc import Mapping
from typing import Any

from tpdoctor import redact_tools, rxcompat
from tpdoctor.engine_flags import (
    COMPOSE_GLOBAL_BOOL_FLAGS,
    COMPOSE_RUN_BOOL_FLAGS,
    COMPOSE_RUN_SHORT_BOOL,
    GLOBAL_BOOL_FLAGS,
    RUN_BOOL_FLAGS,
    short_bools_end,
)

REDACTED = "<redacted>"

# Names whose values are secrets. Word-ish matching: KEY matches API_KEY and KEY_FILE_PASSWORD but
# not KEYBOARD; PAT matches GH_PAT, not PATH; PWD matches MYSQL_PWD (a password) — the shell's
# PWD variable is a path and is no secret, so the bare name PWD is excepted.
_SECRET_WORDS = (
    r"TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|PASS|PWD|PW|KEY|APIKEY|ACCESSKEY|SECRETKEY|PRIVATEKEY|"
    r"AUTHTOKEN|CREDENTIALS?|CREDS?|AUTH|AUTHORIZATION|PAT|COOKIE|SESSION|PRIVATE|SIGNATURE|DSN"
)
SECRET_NAME_RE = re.compile(rf"(?:^|[^A-Za-z0-9])(?:{_SECRET_WORDS})(?:$|[^A-Za-z])", re.I)
# A name with the word glued to what comes before it (`PGPASSWORD`, libpq's password variable; `identitytoken` and
# `registrytoken` in ~/.docker/config.json; Django's `csrftoken`): SECRET_NAME_RE wants a non-letter before the word,
# and these values were printed (gsafe45). Only the long words that end a name: `KEY` glued is `MONKEY`, `PASS` glued
# is `BYPASS`, `PAT` is `PAT` of `XPAT`.
# `REGISTRYCREDENTIALS` too (gsafe46); not `CRED`, which ends `SACRED`.
_GLUED_SECRET_END = re.compile(
    r"(?:PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|APIKEY|SECRETKEY|PRIVATEKEY|CREDENTIALS)$", re.I
)
# a camelCase or PascalCase name ending in Key (case as written): Azure's connection strings' `AccountKey=` and
# `SharedAccessKey=`, `accountKey:`, `masterKey:`, `subscriptionKey:` were printed (gsafe47); `monkey`, `hotkey` stay
_CAMEL_KEY_END = re.compile(r"[a-z0-9]Key$")
# a login session's own variables, in the environment of every live `check` on a host: a socket's path, the D-Bus and
# session manager addresses, logind's session class; each was hidden in snapshots (gsafe53)
_NOT_SECRET_NAMES = frozenset(
    {
        "KEYMAP", "XKB_DEFAULT_KEYMAP", "SSH_AUTH_SOCK", "DBUS_SESSION_BUS_ADDRESS", "SESSION_MANAGER",
        "XDG_SESSION_CLASS", "XDG_SESSION_DESKTOP", "DESKTOP_SESSION", "GNOME_KEYRING_CONTROL",
    }
)
# The shell's working directories, spelled as the shell spells them: a path. `pwd=`/`Pwd=` (a connection string's or a
# tool's password) and `pw=` are secrets (gsafe48: `--label pw=x` and `pwd=x` were printed).
_SHELL_DIR_NAMES = frozenset({"PWD", "OLDPWD"})
# Names that contain a secret word but hold no secret (counts, paths of public things, flags).
# A flag's dash spells the same (`--token-file /run/x`, `--api-key-path`): the path was hidden (gsafe47).
# `--password-stdin` (docker/podman/helm login) is a switch: the word after it, `-u`'s user, was hidden (lead52)
# Where a secret is served or how long it lasts is no secret either: `OAUTH_TOKEN_URL=https://auth/…/token`, `AUTH_PORT=
# 8080`, `SESSION_TIMEOUT=3600`, `--token-url URL` were hidden (gsafe53); a URL's own credentials (`u:pw@`, `?token=`)
# are still hidden by their shapes
_NOT_SECRET_SUFFIX = re.compile(
    r"[_-](?:PATH|FILE|DIR|COUNT|SIZE|LEN|LENGTH|TYPE|MODE|ID|NAME|VERSION|STDIN"
    r"|URL|URI|ENDPOINT|HOST|HOSTNAME|PORT|TIMEOUT|TTL|ARN)$",
    re.I,
)
# settings whose names say "password" in a tool's own spelling: redis's `requirepass`/`masterauth` (redis.conf; also
# `redis-server --requirepass x` in a YAML block list, one word a line: lead52, printed). keytool's `-storepass` is
# redact_tools' (its `-storepass:env VAR` names a variable, which a name rule would hide)
# curl's `--oauth2-bearer TOKEN` (curl(1): "Specify the Bearer Token for OAUTH 2.0"), printed (gsafe52)
_TOOL_SECRET_NAMES = frozenset({"requirepass", "masterauth", "oauth2-bearer"})


_CAPABILITY_URL = re.compile(r"SECRET|PRIVATE|WEBHOOK", re.I)


def switch_name(name: str) -> bool:
    """A flag's name (dashes stripped) that says it takes no value though it holds a secret word (`no-password`)."""
    return _SWITCH_NAME.search(name) is not None


def secret_flag(name: str) -> bool:
    """A flag's name (dashes stripped) whose value is a secret: a secret name that is no switch."""
    return is_secret_name(name) and not switch_name(name)


def is_secret_name(name: str) -> bool:
    """True when an env var / key name says its value is a secret."""
    if name.upper() in _NOT_SECRET_NAMES or name.strip() in _SHELL_DIR_NAMES:
        return False
    core = name.strip().strip("\"'-")
    if core.lower() in _TOOL_SECRET_NAMES:
        return True
    if not SECRET_NAME_RE.search(core) and not _GLUED_SECRET_END.search(core) and not _CAMEL_KEY_END.search(core):
        return False
    # KEY_FILE, TOKEN_PATH: where a secret lives, not the secret; but PASSWORD_FILE stays visible too
    suffix = _NOT_SECRET_SUFFIX.search(core)
    if suffix is not None and suffix.group().upper() in ("_URL", "-URL", "_URI", "-URI"):
        # a "secret URL" or "private URL" is a capability URL (a webhook, a calendar's secret address): the URL is the
        # secret; a token's or an auth server's URL is an endpoint
        return _CAPABILITY_URL.search(core) is not None
    return suffix is None


# --- value shapes ---------------------------------------------------------------------------
# a bare token: stops at quotes, blanks and shell/JSON delimiters; a backslash escapes the character after it, a blank
# or a delimiter too (`DB_PASSWORD=Pa\$\$w0rd`, `HF_TOKEN=a\ b`: the value stopped at the backslash and the rest was
# printed, gsafe53), but not a quote (JSON's `\"` closes a value quoted in a log line) or a line's end (`-e X=\`)
_VALUE = r"(?:[^\s\"'`\\,;&|<>]+|\\[^\n\r\"'])(?:[^\s\"'`\\,;&|<>]*+(?:\\[^\n\r\"'])?)*+"

# no word boundary before the scheme: a URL glued to the text before it (`xxxx…https://u:p@h`, a scheme longer
# than 21 characters) still has its credentials taken; the scheme is the last characters before `://` (gsafe40)
_URL_CREDS = re.compile(
    r"(?P<pre>[a-zA-Z][a-zA-Z0-9+.\-]{0,20}://[^\s/@:\"'`\\]*:)(?P<secret>[^\s/@\"'`\\]+)(?=@)"
)
_URL_USER_TOKEN = re.compile(r"(?P<pre>https?://)(?P<secret>[^\s/@:\"'`\\]{20,})(?=@)")
# the HTTP authentication schemes whose credential follows them on the line
_AUTH_SCHEMES = r"Bearer|Basic|Token|Digest|Negotiate|AWS4-HMAC-SHA256"
# Digest and AWS4 credentials are `name=value` pairs, a value maybe quoted (`Digest username="a", response="…"`,
# JSON-escaped in a log line): the first pair's quote ended the secret and `response="…"` was printed (gsafe45)
# An auth-param may have blanks around its `=` (RFC 7235's BWS: `response = "…"` was printed, review45)
# A quoted value skips the quotes a backslash escapes (`username="a\"b", response="…"`: the pair ended at `\"`,
# and `response="…"` after it was printed, gsafe46); a value in escaped quotes (JSON in a log line) as before
_AUTH_PARAM = (
    r"[A-Za-z]+[^\S\n]*=[^\S\n]*(?:\"(?:[^\"\\\n]|\\[^\n])*\"|\\{1,3}\"[^\"\\\n]*\\{1,3}\"|[^\s\"'`\\,;]+)"
)
_AUTH_HEADER = re.compile(
    rf"(?P<pre>\b(?:Proxy-)?Authorization\s*[:=]\s*\"?'?(?:{_AUTH_SCHEMES})?\s*)"
    rf"(?P<secret>(?:{_AUTH_PARAM}|[^\s\"'`\\,;]+)(?:[^\S\n]*,[^\S\n]*{_AUTH_PARAM})*)",
    re.I,
)
_BEARER = re.compile(r"(?P<pre>\b(?:Bearer|Basic)\s+)(?P<secret>[A-Za-z0-9._~+/=\-]{8,})")
# A quote may come escaped (`password=\"x\"`, `{\"DB_PASSWORD\": \"x\"}`: JSON or a repr quoted in a log line, one
# to three backslashes deep): the value runs to the same escaped quote; it was printed as is (gsafe42).
# key=value, key: value, "key": "value", --key=value, --key value: the key and separator only;
# the value is taken by _redact_kv so a non-secret key never hides a secret inside its value.
# a `--flag value` (blank separator) only after a dash; `key=`/`key:` anywhere
# finditer tries the pattern from every character of a run of name characters, and the name ran to the run's end each
# time: quadratic (a 60k-character base64 blob on a line with `token` took 6 minutes, review42). A key starts only
# where no letter is before it (the same matches: every start in a run ends at the run's end, so the run's first
# letter decides), and a name is at most KEY_MAX characters long (a longer one is read from a later `_`, `.`, `-` or
# digit: `aaa…_PASSWORD=x` by its `PASSWORD`).
KEY_MAX = 128
_KEYSEP = re.compile(
    rf"(?:(?P<flag>--?[A-Za-z_][A-Za-z0-9_.\-]{{0,{KEY_MAX}}})(?P<fsep>\s+)"
    rf"|(?<![A-Za-z])(?P<key>[A-Za-z_][A-Za-z0-9_.\-]{{0,{KEY_MAX}}})(?P<kq>\\{{0,3}}[\"']|)(?P<sep>\s*(?:=|:(?!//))\s*))"
    r"(?P<q>\\{0,3}[\"']|)"
)
_BARE_VALUE = rxcompat.compile(_VALUE)  # (an unrolled loop: a run at a time)
_NAME_CHARS = re.compile(r"[A-Za-z0-9_.\-]")
# a switch (no value) whose name holds a secret word: it says not to use one, to ask for one or to read one on stdin
_SWITCH_NAME = re.compile(
    r"^(?:no|ask|prompt|skip|without|disable|allow-empty)-[a-z-]+$|^[a-z-]+-(?:stdin|prompt|warning)$|^with-token$"
)
# OpenSSL's `-pass` argument: where the pass phrase comes from (a whole word but for `pass:`, whose rest is the phrase)
_OPENSSL_PASS_ARG = re.compile(r"(?P<src>pass):|(?P<ref>env|file|fd):\S|stdin$")
# an option word, to a blank, `=` or the end: a dash and one letter (`-a`), or two dashes and a lowercase name
# (`--port`); `-Zq7` may be a password that starts with a dash, and is hidden
_OPTION_WORD = re.compile(r"(?:-[A-Za-z]|--[a-z][a-z0-9-]*)(?=[\s=]|$)")
# an HTTP authentication scheme opening a value, with the credential after it on the line
_SCHEME_WORD = re.compile(rf"(?:{_AUTH_SCHEMES})[^\S\n]+(?=[^\s\"'`])", re.I)
_PREFIXED = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"hf_[A-Za-z0-9]{20,}|"
    r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|"
    r"glpat-[A-Za-z0-9_\-]{16,}|"
    r"sk-(?:[A-Za-z0-9_\-]{16,})|"
    r"xox[abprs]-[A-Za-z0-9\-]{10,}|"
    r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}|"
    r"AIza[0-9A-Za-z_\-]{35}|"
    r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}|"
    # NVIDIA NGC's API keys, npm and PyPI tokens: printed bare (gsafe45)
    r"nvapi-[A-Za-z0-9_\-]{20,}|npm_[A-Za-z0-9]{30,}|pypi-AgE[A-Za-z0-9_\-]{20,}|"
    # a Docker config.json in base64 (a kubernetes.io/dockerconfigjson Secret's `.dockerconfigjson`, an image pull
    # secret in a log): `{"auths":` compact, 2-blank or tab indented; its `auth` is base64 of user:password (gsafe48)
    r"(?:eyJhdXRocyI6|ewogICJhdXRocyI6|ewoJImF1dGhzIj)[A-Za-z0-9+/]{8,}=*"
    r")"
)
_ANY_SECRET_WORD = re.compile(
    # `cred`: `MY_CRED=x`, `AWS_CREDS=x` (CRED and CREDS are secret words since gsafe46; `credential` starts so)
    r"token|secret|pass|pw|key|cred|auth|pat(?!h)|cookie|session|private|signature|dsn"
)
_PREFIX_HINT = re.compile(
    r"hf_|gh[pousr]_|github_pat_|glpat-|sk-|xox[abprs]-|A[KSGIRN][IPDOIP]A|AIza|eyJ|ewo[gJ]|nvapi-|npm_|pypi-"
)
# one search that every secret shape above needs to match somewhere in the line
# (matched against the lowered line without re.I: several times faster than IGNORECASE)
_ANY_HINT = re.compile(
    r"://|auth|bearer|basic|token|secret|pass|pw|key|cred|pat(?!h)|cookie|session|private|signature|dsn|"
    r"hf_|gh[pousr]_|glpat-|sk-|xox[abprs]-|a[ksgirn][ipdoip]a|aiza|eyj|ewo[gj]|nvapi-|npm_|pypi-|"
    r"curl|wget|sshpass|login|mysql|machine|sig=|" + redact_tools.HINT.pattern
)
# Credentials in a command's own flags, which no secret name marks (gsafe45: each was printed):
# `curl -u user:pw`, `--user`, `--proxy-user`, `-U` (the part after the first colon is the password; curl's short
# options take a glued value too, `-uuser:pw`, which was printed: gsafe52);
# a quote around the word or after the colon runs the password to that quote (`-u "me:a b"`, `-u me:"x"`: review45)
_USER_COLON_PW = re.compile(
    r"(?<!\S)(?P<pre>(?:-[uU](?:[ \t]+|=)?|--user(?:[ \t]+|=)|--proxy-user(?:[ \t]+|=))(?P<q>[\"'])?[^\s:\"'@]*:(?P<q2>[\"'])?)"
    r"(?P<secret>(?(q)(?:(?!(?P=q))[^\n])+|(?(q2)(?:(?!(?P=q2))[^\n])+|[^\s\"']+)))"
)
# `docker login -p x`, `sshpass -p x`, `mysql -px` (glued: mysql's only way to pass it on the line);
# a quoted password runs to its closing quote (`-p 'Xy7;kL2'`, as `set -x` prints one: it was printed, review46)
_DASH_P = re.compile(
    r"(?<!\S)(?P<pre>-p(?:[ \t]+|=)?)(?P<secret>\"[^\"\n]+\"|'[^'\n]+'|[^\s\"'-][^\s\"']*)"
)
_DASH_P_START = re.compile(r"(?<!\S)-p")
# mysql's `-p db` prompts; a quoted glued password (`-p'x'`, `-p"x"`, as shells are written) was printed (gsafe52)
_DASH_P_GLUED = re.compile(
    r"(?<!\S)(?P<pre>-p(?P<q>[\"'])?)(?P<secret>(?(q)(?:(?!(?P=q))[^\n])+|[^\s\"'-][^\s\"']*))(?(q)(?P=q))"
)
# ~/.netrc: `machine h login u password x` (blank-separated tokens; also `password x` alone on a line below);
# a netrc line; `user` is Python's netrc's other name for `login` (netrc.py: `if tt in {'login', 'user'}`; `user u
# password x` on a line of an entry was printed, review46)
_NETRC_TOKEN = re.compile(r"[ \t]*(?:(?:machine|default)[ \t]|(?:login|user)[ \t]+\S+[ \t]+password[ \t])")
_NETRC_KEYWORDS = frozenset({"machine", "login", "user", "password", "passwd", "account", "port"})
_NETRC_PW = re.compile(r"(?<![\w-])(?P<pre>(?:password|passwd)[ \t]+)(?P<secret>\"[^\"\n]*\"|\S+)")
# (one word to the line's end; the word holds something other than a lowercase letter, or it is prose: checked in
# code, `\S*[^a-z\s]\S*` before the lookahead backtracked over every split of a long word: cubic, review45)
_NETRC_PW_LINE = re.compile(r"(?P<pre>[ \t]*password[ \t]+)(?P<secret>\S+)(?=[ \t]*\r?\n?$)")
_LOWER_WORD = re.compile(r"[a-z]+")
# the engine's global options may stand before `login` (`docker --config DIR login -p x`, `podman --log-level debug
# login`: the -p was printed, review46); a flag's value is a word that starts with no `-`
_GLOBAL_OPTS = r"(?:[ \t]+-{1,2}[\w.-]+(?:=\S*|[ \t]+[^\s-]\S*)?){0,6}"
_LOGIN = (
    rf"(?:(?:docker|podman|nerdctl|buildah|skopeo|oras|crane){_GLOBAL_OPTS}|helm{_GLOBAL_OPTS}[ \t]+registry"
    # the Azure CLI's `az login --service-principal -u ID -p SECRET` and `az acr login -p` (gsafe50: printed)
    r"|az(?:[ \t]+acr)?)\s+login"
)
_LOGIN_CMD = re.compile(rf"\b{_LOGIN}\b")
# where a `-p` is the password's: after the login command (or sshpass) up to the end of its shell command. `docker login
# -p x && docker run -p 8080:80` printed `docker run -p <redacted>`: every `-p` on the line was hidden (gsafe46)
_PW_CMD = re.compile(rf"\b(?:{_LOGIN}|sshpass)\b", re.I)
_CMD_END = re.compile(r"[;&|\n]")
# `wandb login KEY` (the API key as the command's operand, after its options: `--relogin`, `--host URL`) and `aws
# configure set aws_secret_access_key KEY` (a setting's name and value as two words): printed (gsafe50)
_WANDB_KEY = re.compile(
    r"(?<![\w-])(?P<pre>wandb[ \t]+login(?:[ \t]+(?:--host[ \t]+[^\s-]\S*|-[\w-]*(?:=\S*)?))*[ \t]+)"
    # a key has a digit (40 hex characters, `local-` and 40): `wandb login authentication-required-for-this-project`
    # in a hint or a README is no key (review52)
    r"(?P<secret>(?=[A-Za-z0-9][\w-]*?\d)[A-Za-z0-9][\w-]{15,})"
)
_AWS_SET = re.compile(
    r"(?<![\w-])(?P<pre>aws[ \t]+configure[ \t]+set[ \t]+(?:[\w.-]*\.)?"
    r"(?:aws_secret_access_key|aws_session_token|secret_access_key|session_token)[ \t]+)(?P<secret>[^\s\"']+)",
    re.I,
)
# docker's `--secret id=hf,src=…` (build), `--secret source=x,target=y`, podman's `--secret name,type=env,target=X`:
# the secret's id and where it comes from, never its value; the id was hidden as a `secret` flag's value (gsafe46)
_SECRET_SPEC_KEY = re.compile(r"(?:id|src|source|target|env|type|uid|gid|mode|required)=", re.I)
# an Azure SAS URL's signature (`?sv=…&sig=…`): a bearer credential for the blob
_SAS_SIG = re.compile(r"(?<=[?&])(?P<pre>sig=)(?P<secret>[^&\s\"'#]+)")
_PEM_KEY = r"[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----"  # after `-----BEGIN ` / `-----END `: RSA, EC, OPENSSH, ENCRYPTED ...
_PEM_BEGIN = re.compile(rf"-----BEGIN {_PEM_KEY}")
_PEM_END = re.compile(rf"-----END {_PEM_KEY}")
_PEM_ONE_LINE = re.compile(rf"-----BEGIN {_PEM_KEY}.*?-----END {_PEM_KEY}", re.S)
_ALREADY = re.compile(
    r"^<redacted>$|^(?:Bearer|Basic|Token|Digest|Negotiate)$|^\*+$|^x+$|^\$?\$\{?[A-Za-z_][A-Za-z0-9_]*(?::?-[^}]*)?\}?$"
    r"|^\$\{(?:localEnv|env|containerEnv):[A-Za-z_][A-Za-z0-9_]*\}$"  # devcontainer.json's reference
    # no value at all: `Namespace(hf_token=None)`, `api_key: null` said the token was unset, which explains a 401, and
    # printed `hf_token=<redacted>` (gsafe47)
    r"|^(?:None|null)$"
    # ... and the words that say so (gprec48): `password: not set`, `HF_TOKEN=unset`, `token=(none)`, `api_key: <none>`,
    # `secret: empty`; printed as they are, the word `not` of `not set` was hidden and read as the secret
    r"|^(?i:not[ \t]+set|unset|<none>|\(none\)|empty|<empty>|\(empty\))$"
)


def is_already(value: str) -> bool:
    """A value that is no secret to hide: already redacted, masked, a reference to a variable, or unset."""
    return _ALREADY.match(value) is not None


# a bare value that is the first word of `not set`: the value stopped at the blank (gprec48)
_NOT_SET = re.compile(r"(?i:not[ \t]+set)\b")
# a reference with a default (`${HF_TOKEN:-x}`, `${HF_TOKEN-x}`, devcontainer.json's
# `${localEnv:HF_TOKEN:x}`): the default is the value the file gives while the variable is unset
_REF_DEFAULT = re.compile(
    r"\$\{(?:[A-Za-z_][A-Za-z0-9_]*:?-|(?:localEnv|env|containerEnv):[A-Za-z_][A-Za-z0-9_]*:)(?P<default>[^}]*)\}"
)


_PROSE_NEXT = re.compile(r" +[A-Za-z]")
# a blank run is tried from its first blank only: from each blank, `\s+#` and `\s*$` ran over the rest of the run
# (quadratic, review45); the leftmost end found is the same, as a value starts at no blank
_YAML_VALUE_END = re.compile(r"(?<!\s)\s+#|,\s|[}\]]|(?<!\s)\s*$")
# secret words that are also plain English; PASSWORD, SECRET, CREDENTIALS… are never prose
_ENGLISH_KEYS = frozenset(
    {"pass", "key", "auth", "session", "private", "signature", "cookie", "token", "pat"}
)


def _is_prose(key: str, sep: str, value: str, line: str, at: int, path: bool = False) -> bool:
    """`pass: add CAP_SYS_PTRACE`, `key: see the docs`: a lowercase word after an English key word
    and a colon, with the sentence going on, is prose, not a credential. A secret in `key: value` form
    ends the line or a field (`password: hunter2`, `token: abc # note`), or has other characters.
    path: the key is a file name ending a path (`/etc/passwd: not a regular file`, `/etc/passwd: 4096 settings; …`,
    the way every error line names its file): any key so, and a number too, is the sentence's (gsafe48: the word
    after `/etc/passwd:` was hidden in check's and explain's error lines)."""
    return (
        ":" in sep
        and (key in _ENGLISH_KEYS or path)
        and ((value.isalpha() and value.islower()) or (path and value.isdigit()))
        and _PROSE_NEXT.match(line, at) is not None
    )


# A cause id (`audit.secret-inline`, `compose.key-ignored`: a family, a dot, a kebab-case name) is the
# name of a rule. Where a finding line prints it as `NOTICE audit.secret-inline: vllm writes HF_TOKEN
# inline.` the words after the colon are the finding's sentence, not the value of a key.
_CAUSE_ID = re.compile(r"[a-z][a-z0-9]*(?:\.[a-z0-9]+(?:-[a-z0-9]+)+)+")


def _is_rule_sentence(m: re.Match[str], line: str, at: int) -> bool:
    key = m.group("key")
    return (
        key is not None
        and not m.group("kq")
        and ":" in (m.group("sep") or "")
        and _CAUSE_ID.fullmatch(key) is not None
        and _PROSE_NEXT.match(line, at) is not None
    )


# A name (flag or key) always ends where its run of name characters ends (what may follow it, a blank, a quote, `=`
# or `:`, is no name character), so a match starts at most KEY_MAX + 3 characters before that end. finditer still
# tried every dash and every letter after a non-letter in a long run, each scanning KEY_MAX characters before it
# failed: ~0.5 s per 64 KiB line of `-a-a-a…` or `_-_-…` (gsafe43). The part of a long run that no match can start
# in is blanked out (to NUL, no name character, same length: the positions are the line's own) before the search;
# the last KEY_MAX + 12 characters of the run stay, so the look-behind before a start still sees the real character.
_LONG_NAME_RUN = re.compile(rf"[A-Za-z0-9_.\-]{{{KEY_MAX + 24},}}")


def _name_searchable(line: str) -> str:
    if len(line) < KEY_MAX + 24:
        return line
    runs = [m.span() for m in _LONG_NAME_RUN.finditer(line)]
    if not runs:
        return line
    parts: list[str] = []
    pos = 0
    for a, b in runs:
        dead = b - (KEY_MAX + 12)
        parts += [line[pos:a], "\0" * (dead - a)]
        pos = dead
    parts.append(line[pos:])
    return "".join(parts)


def _yaml_key_start(line: str, end: int, nl: int) -> bool:
    r"""Whether a YAML key starts at `end`: at the start of the line (indent, list dash) or after a flow-mapping `{` /
    `, `. Was the regex `(?:.*(?:\{|,\s))?\s*(?:-\s+)?$` matched on line[:end], whose `.*` went back over the whole
    line before `end` for each key (2 s for a 64 KiB line of `x a_token:b `, gsafe43; tests/test_gsafe43.py keeps it as
    the reference this function is checked against), and without copying the line up to `end`: `end`
    follows a line start, a `{` or a `, ` and then blanks and maybe a list dash and blanks; the text before that `{`
    or `,` holds no newline (`.` does not match one; `nl`: the line's first newline, -1 for none)."""
    j = end
    while j > 0 and line[j - 1].isspace():
        j -= 1
    if j > 0 and line[j - 1] == "-":  # the list dash: blanks after it are required, blanks before it allowed
        if j == end:
            return False
        wend = q = j - 1
        while q > 0 and line[q - 1].isspace():
            q -= 1
    else:
        wend, q = end, j
    if q == 0:
        return True
    no_newline_before = nl < 0 or nl >= q - 1
    if line[q - 1] == "{":
        return no_newline_before
    return line[q - 1] == "," and q < wend and no_newline_before


def _quote_end(line: str, start: int, q: str) -> int:
    """Where the value quoted with `q` that starts at `start` ends, -1 for not on the line. A plain `"` skips the quotes
    a backslash escapes (`"Quo\\"kka rest"`: YAML, JSON, the shell), a plain `'` the doubled `''` of YAML (`'Wal''rus
    rest'`) and the shell's `'\\''`: the value ran to the escaped quote and the rest of the secret was printed (gsafe44)."""
    if q == '"':
        i = line.find(q, start)
        while i > 0:
            k = i
            while k > start and line[k - 1] == "\\":
                k -= 1
            if (i - k) % 2 == 0:  # an even run of backslashes escapes itself, not the quote
                return i
            i = line.find(q, i + 1)
        return i
    if q == "'":
        # and the shell's `'\''` (close, an escaped quote, reopen): bash's `set -x` writes a secret holding a quote so,
        # `+ DB_PASSWORD='Quokka'\''s Lantern42x'`, and `s Lantern42x'` was printed (review44)
        i = line.find(q, start)
        while i >= 0 and (line.startswith("''", i) or line.startswith("'\\''", i)):
            i = line.find(q, i + (2 if line.startswith("''", i) else 4))
        return i
    return line.find(q, start)


def _quoted_value_end(line: str, start: int, q: str) -> int:
    """Where the value quoted with `q` that starts at `start` ends: at its closing quote (_quote_end), else at the
    line's end, its line break (`\n` or a CRLF's `\r\n`) kept out of the value."""
    close = _quote_end(line, start, q)
    return len(line.rstrip("\r\n")) if close < 0 else close


# a key's or certificate's file (not the key): a path or a file name with such an extension
_KEY_FILE_EXTS = (".der", ".cer", ".crt", ".pem", ".pub", ".key", ".asc", ".gpg")
_KEY_FILE = re.compile(r"[\w.~/+-]{1,4096}")
# a JSON object as a secret's value: `{` and a (JSON-escaped) quoted member name
_JSON_OBJECT = re.compile(r'\{[ \t]*\\{0,3}"')


def _list_end(line: str, start: int) -> int:
    """The `]` closing the list opened at line[start] (quoted items skipped, nested lists counted), -1 for none on the
    line. One pass from start: a key is looked at once. A `{` at line[start]: the `}` closing that object."""
    opener = line[start]
    closer = "}" if opener == "{" else "]"
    depth = 0
    i = start
    n = len(line)
    while i < n:
        c = line[i]
        if c in "\"'":
            close = _quote_end(line, i + 1, c)
            if close < 0:
                return -1
            i = close + 1
            continue
        if c == opener:
            depth += 1
        elif c == closer:
            depth -= 1
            if depth == 0:
                return i
        elif c == "\n":
            return -1
        i += 1
    return -1


def _netrc_line(low: str) -> bool:
    """Whether a line opening as netrc (`machine`, `default`, `login … password`) is netrc tokens only: `default`, or a
    keyword and its word, to the end. `default password policy: Strict123` is prose that happens to start with
    `default` and had `policy:` hidden as a password (gsafe46). Tokens, not a regex: a value may be a keyword."""
    words = low.split()
    i = 0
    login = password = False
    while i < len(words):
        if words[i] == "default":
            i += 1
        elif words[i] in _NETRC_KEYWORDS and i + 1 < len(words):
            login = login or words[i] in ("login", "user")
            password = password or words[i] in ("password", "passwd")
            i += 1
            if words[i].startswith('"'):  # a quoted value (Python's netrc reads them) runs to its closing quote
                while not (len(words[i]) > 1 and words[i].endswith('"')) and i + 1 < len(words):
                    i += 1
            i += 1
        elif words[i] == "macdef" or words[i].startswith("#"):  # a macro's lines, a comment: the rest is theirs
            return True
        else:
            # a word no netrc keyword names after a whole `login u password x` entry (another tool's token, a note):
            # still a credential line, its password was printed (review46); prose has no login before its password
            return login and password
    return True


def _cmd_end(line: str, start: int) -> int:
    stop = _CMD_END.search(line, start)
    return stop.start() if stop else len(line)


def _redact_after_cmd(line: str) -> str:
    """_DASH_P in each login (or sshpass) command of the line, from the command's word to its shell command's end."""
    out: list[str] = []
    pos = done = 0
    for m in _PW_CMD.finditer(line):
        if m.start() < done:
            continue  # a login inside the command before it: its -p were in that part
        end = _cmd_end(line, m.end())
        at = m.end()
        while (start := _DASH_P_START.search(line, at, end)) is not None:
            # a -p that starts before the command's end is hidden to its value's end: a `;`, `&` or `|` inside the
            # value (`-p Xy7;kL2&p`, `-p 'a;b'`) is no command end, and cutting the value there printed `;kL2&p`
            # (review46)
            p = _DASH_P.match(line, start.start())
            if p is None:
                at = start.end()
                continue
            out += [line[pos : p.start()], _keep_pre(p)]
            pos = at = p.end()
            if at > end:
                end = _cmd_end(line, at)
        done = end
    if not out:
        return line
    out.append(line[pos:])
    return "".join(out)


# a container engine's word before a `--secret` flag: podman run/create's `--secret NAME` (and docker's swarm `service
# create --secret NAME`, buildx's) takes the secret's name, never its value; a bare name was hidden (gsafe47)
_ENGINE_WORD = re.compile(r"(?<![\w.-])(?:docker|podman|nerdctl|buildah|buildx)(?![\w.-])")


# A shell word: redact_tools' reader (quotes kept whole, backslash escapes, to a blank, `;&|<>()` or a backtick). This
# module had its own, which knew no escapes and ran over `<>()`: `docker run -e A=\ x --secret NAME img` read `x` as
# the image and hid the secret's name, `--label x=\" img app --secret PW --label 'q"'` read no image and printed the
# program's password (gsafe53). One reader serves both.
_SHELL_WORD = redact_tools.SHELL_WORD
# the engine's subcommands whose first operand is an image (or a container, for exec) and whose later words are the
# program's: `docker run`, `container run`, `podman create`, `docker exec`, `compose run` (a service)
_IMAGE_COMMANDS = frozenset({"run", "create", "exec"})
_SUBCOMMAND_WORDS = frozenset({"container", "compose", "service", "run", "create", "exec"})
# docker's and podman's run/create options that take no value, and compose run's (engine_flags.py, which the `docker
# run` reader shares). An option missing there is read as taking the next word: at worst the program's flag after the
# image is taken for the engine's, as before gsafe48.
_RUN_BOOL_FLAGS = RUN_BOOL_FLAGS | COMPOSE_RUN_BOOL_FLAGS


def _image_end(line: str, pos: int) -> int:
    """Where the image word of the engine command whose word ends at `pos` ends (`docker [global options] run
    [options] IMAGE …`): words after it are the program's. -1 when the command has no image before the command's end
    (`;`, `&`, `|`, a newline) or is no run/create/exec. Quotes are kept whole; one pass over the command's words."""
    words = _SHELL_WORD.finditer(line, pos)
    stage = "global"
    takes_value = compose = False
    for w in words:
        gap = line[pos : w.start()]
        if any(c in gap for c in ";&|\n"):
            return -1
        pos = w.end()
        word = w.group()
        if takes_value:
            takes_value = False
            continue
        if stage == "global":
            if word.startswith("-"):
                takes_value = "=" not in word and word not in GLOBAL_BOOL_FLAGS
                continue
            if word not in _SUBCOMMAND_WORDS:
                return -1
            stage = "sub"
        if stage == "sub":
            if word in _SUBCOMMAND_WORDS:
                compose = word == "compose"
                if word in _IMAGE_COMMANDS:
                    stage = "options"
                continue
            if compose and word.startswith("-") and word != "-":
                # `docker compose -f x.yml -p proj run svc …`: compose's own options before its subcommand; the
                # command read as no run at all, and the program's `--secret X` after the service was printed (gsafe50)
                if word.startswith("--"):
                    takes_value = "=" not in word and word not in COMPOSE_GLOBAL_BOOL_FLAGS
                else:
                    takes_value = len(word) == 2  # `-f x.yml`, `-p proj`; `-fx.yml` glued
                continue
            if stage == "sub":
                return -1
        if word == "--":
            continue
        if word.startswith("-") and word != "-":
            if word.startswith("--"):
                takes_value = "=" not in word and word not in _RUN_BOOL_FLAGS
            else:
                # `-v X`, and `-itv X` (booleans glued before it, as pflag reads them)
                takes_value = short_bools_end(word, COMPOSE_RUN_SHORT_BOOL) == len(word) - 1
            continue
        return w.end()
    return -1


def _secret_spec(line: str, start: int, end: int) -> bool:
    """The value at line[start:end] of a `secret` key is docker's or podman's secret spec (`id=hf,src=…`, or a name
    followed by `,type=…`): the secret's name, not the secret."""
    return _SECRET_SPEC_KEY.match(line, start) is not None or (
        line.startswith(",", end) and _SECRET_SPEC_KEY.match(line, end + 1) is not None
    )


def _redact_kv(line: str) -> str:
    out: list[str] = []
    pos = 0
    # a bare value runs to the end of its run of value characters from wherever in the run it starts: the run's end is
    # kept, so keys inside one value (`a-token:a-token:…`, each a label) do not each scan it again (3 s a 64 KiB line)
    run_from = run_end = -1
    nl = line.find("\n")
    glued_p = "mysql" in line or "mariadb" in line  # a client whose `-pPASSWORD` is glued
    keyref = "KeyRef" in line  # once: per `key` it went over the line again (0.5 s a 64 KiB line of `-key\t`)
    # the brackets opened and not closed before the current key, counted once along the line (per key: quadratic)
    depth = {"}": 0, "]": 0, ")": 0}
    counted = 0
    quoted_to = 0  # where the last value quoted before its key ends
    engine_at = -2  # where the line's first container engine word starts (-1: none; looked up once, when needed)
    seps: list[int] = []  # where the line's `;`, `&`, `|` and newlines are (with engine_at, once)
    images: dict[int, int] = {}  # an engine word's start -> where its command's image word ends (_image_end), once
    for m in _KEYSEP.finditer(_name_searchable(line)):
        if m.start() < pos:
            continue
        key = (m.group("flag") or m.group("key")).lstrip("-")
        if not _ANY_HINT.search(key.lower()) or not is_secret_name(key):
            continue
        if m.group("flag") and m.start() > 0 and _NAME_CHARS.fullmatch(line[m.start() - 1]):
            # a dash inside a word opens no flag unless the word is one (`-x-x…-password PW`, a name past KEY_MAX, is
            # read from a later dash): `non-secret value`, `pre-auth handshake`, `wifi-sec.key-mgmt wpa-psk` had the
            # word after them hidden (gsafe53). Back over this word only: the words of two flags are apart
            j = m.start()
            while j > 0 and _NAME_CHARS.fullmatch(line[j - 1]):
                j -= 1
            if line[j] != "-":
                continue
        if key == "key" and keyref:  # k8s secretKeyRef/configMapKeyRef: the name of a key
            continue
        if line.endswith("${", 0, m.start()):  # ${HF_TOKEN:-default}: a reference, not a key
            continue
        start = m.end()
        q = m.group("q")
        lead = ""  # the quote before the key of a word quoted whole (`'API_TOKEN=a b'`)
        if q:
            end = _quoted_value_end(line, start, q)
        elif line.startswith("[", start) or _JSON_OBJECT.match(line, start):
            # and a JSON object (`GOOGLE_APPLICATION_CREDENTIALS_JSON={"type": …, "private_key_id": …}`): the bare
            # value was the `{` alone and the object was printed, the key inside it hidden (gsafe50); its members go,
            # the braces stay
            # a list of secrets (vLLM's `non-default args: {'api_key': ['x']}`, `api_key=["x"]`): the bare value was
            # the `[` alone and the quoted items were printed (gsafe47). The items go, the brackets stay
            close = _list_end(line, start)
            if close < 0:  # unclosed: to the line's end, its `\n` or a CRLF's `\r\n` kept out (gprec48)
                end = len(line.rstrip("\r\n"))
            else:
                start, end = start + 1, close
            if line[start:end].strip() in ("", REDACTED):
                continue
            run_from = run_end = -1
        else:
            flag_word = m.group("flag") or ""
            if glued_p and flag_word.startswith("-p") and not flag_word.startswith("--"):
                # mysql's glued `-pPASSWORD` is a password, not a flag's name: `-pW4kq…` (a `pw` word) hid the database
                # name after it (gsafe53); the password itself is _DASH_P_GLUED's and redact_tools'
                continue
            if m.group("flag") and _SWITCH_NAME.search(key):
                # a switch whose name holds a secret word takes no value: `ssh --no-password host`, `ansible-playbook
                # --ask-vault-pass site.yml`, `--no-auth-warning ping`: the word after it was hidden (gsafe53)
                continue
            if m.group("flag") and _OPTION_WORD.match(line, start):
                # a flag after a flag is the next option, not a value (as in an exec-form list): `redis-cli
                # --no-auth-warning -a PW` hid `-a`, and redact_tools no longer saw the password's flag and printed
                # it (gsafe52); `--no-auth-warning -h r` hid `-h`
                continue
            if not run_from <= start < run_end:
                v = _BARE_VALUE.match(line, start)
                run_from, run_end = start, (v.end() if v else -1)
            has_value = start < run_end
            end = run_end if has_value else start
            if has_value and line[end - 1] == ":":  # `name_key: client: …`: a label, not a value
                continue
            sep = m.group("sep") or ""
            if ":" in sep and key not in _ENGLISH_KEYS and has_value and _yaml_key_start(line, m.start(), nl):
                # YAML `password: correct horse battery`: the value runs to a comment, a flow
                # separator or the end of the line, not to the first blank
                stop = _YAML_VALUE_END.search(line, start)
                end = max(end, stop.start() if stop else len(line.rstrip("\n")))
                run_from = run_end = -1  # the value ran past its first run: the next start scans afresh
            before = line[m.start() - 1] if m.group("key") and m.start() > 0 else ""
            if has_value and before in ("'", '"') and "=" in sep and not m.group("kq") and start >= quoted_to:
                lead = before
                # `export 'API_TOKEN=Walrus77 it'\''s Pelican42x'` (bash's `set -x`), `-e "HF_TOKEN=a b"`: the word
                # quoted whole, its quote before the key; the value runs to that quote, not to its first blank (only
                # `Walrus77` was hidden, review44)
                # a key inside such a value left as it is (`'token=${A:-\''token=…`, a reference) keeps its first
                # run: each key's value ran to the same far quote, and the line was scanned per key (quadratic)
                end = quoted_to = max(end, _quoted_value_end(line, start, lead))
        if not q and not lead and end > start and line[end - 1] in depth:  # a quoted value's closer is its own
            # `{api_key: x}`, `[token=x]`, `f(token=x)`: a closing bracket after a bare value closes a bracket opened
            # before the key, and is the line's, not the secret's; it went with the value (`{api_key: <redacted>`, a
            # broken flow mapping in a quoted line or a diff, gsafe44). Only as many as were opened: `token=ab}` keeps
            # an unopened `}` in the value
            for c in line[counted : m.start()]:
                if c in "{[(":
                    depth["}])"["{[(".index(c)]] += 1
                elif depth.get(c):
                    depth[c] -= 1
            counted = m.start()
            used = dict(depth)
            while end > start and used.get(line[end - 1], 0) > 0:
                used[line[end - 1]] -= 1
                end -= 1
        if m.group("flag") and key.lower() == "pass":
            # OpenSSL's pass phrase argument (openssl-passphrase-options(1)): `-pass pass:PW` gives one, `env:VAR`,
            # `file:PATH`, `fd:N` and `stdin` say where it is read; `env:VAR` was hidden (gsafe53), `pass:` with it
            arg = _OPENSSL_PASS_ARG.match(line, start, end)
            if arg is not None:
                if arg.group("src") != "pass":
                    continue
                start = arg.end()
        if line.startswith("$(", start):
            # a command substitution (`PGPASSWORD=$(cat /run/secrets/pg) psql`) says where the secret is read: its
            # first word was hidden and the rest printed (`<redacted> /run/secrets/pg)`, gsafe53). Tested before the
            # value is copied: a line of `TOKEN=$(` copied the rest of the line per key
            continue
        scheme = _SCHEME_WORD.match(line, start, end) if "authoriz" in key.lower() else None
        if scheme:
            # `Authorization: Bearer x` as a YAML key or a quoted value (`{"Authorization": "Bearer x"}`): the value
            # ran over the scheme word, and the line printed `Authorization: <redacted>`, while the header's own
            # shape and the same header in a shell word keep it (`Bearer <redacted>`). The scheme says how the
            # request authenticates and is no secret: it stays, the credential after it goes (lead gsafe45)
            # Only for an Authorization header: a passphrase of another name that starts with `Basic` showed that word
            # (review45)
            start = scheme.end()
        value = line[start:end]
        d = _REF_DEFAULT.fullmatch(value)
        if d and d.group("default") and not _ALREADY.match(d.group("default")):
            out.append(line[pos : start + d.start("default")])
            out.append(REDACTED)
            pos = start + d.end("default")
            continue
        if not value or _ALREADY.match(value) or (value.lower() == "not" and _NOT_SET.match(line, start)):
            continue
        engine_bool = m.group("flag") in _RUN_BOOL_FLAGS and not lead  # `podman run --passwd IMAGE`
        if engine_bool or (key.lower() == "secret" and (m.group("flag") or line.endswith("-", 0, m.start()))):
            if engine_at == -2:
                e = _ENGINE_WORD.search(line)
                engine_at = e.start() if e else -1
                seps = [i for i, c in enumerate(line) if c in ";&|\n"] if e else []
            if not engine_bool and _secret_spec(line, start, end):
                continue
            if 0 <= engine_at < m.start():
                # the engine's own command: no `;`, `&` or `|` between its word and the flag (`docker run …; app
                # --secret X` hides X), and the flag before the image (`docker run img app --secret X` is the
                # program's flag, gsafe48). podman's value-less `--passwd` there: the word after it is the next
                # option or the image, which was hidden (gsafe50); the program's `--passwd X` after the image, or
                # another command's, is a password. The separators are found once (per key: rfind over the line)
                k = bisect.bisect_left(seps, m.start())
                e = _ENGINE_WORD.search(line, seps[k - 1] + 1 if k else 0, m.start())
                if e is not None:
                    if e.start() not in images:
                        images[e.start()] = _image_end(line, e.end())
                    if not 0 <= images[e.start()] <= m.start():
                        continue
        if key.lower().endswith("key") and value.lower().endswith(_KEY_FILE_EXTS) and _KEY_FILE.fullmatch(value):
            # mokutil's `--test-key /var/lib/shim-signed/mok/MOK.der`, `--ssh-key ~/.ssh/id.pub`, `SSL_KEY=/etc/x.pem`:
            # where a key lives (a file named by its key or certificate extension), as `*_FILE` names one (gsafe50)
            continue
        # the line and an offset, not `line[end:]`: a copy of the rest of the line per key was quadratic (gsafe43)
        path = m.group("key") is not None and line.endswith("/", 0, m.start())  # a file name: `/etc/passwd: …`
        if _is_prose(key, m.group("sep") or "", value, line, end, path) or _is_rule_sentence(m, line, end):
            continue
        out.append(line[pos:start])
        out.append(REDACTED)
        pos = end
    if not out:
        return line
    out.append(line[pos:])
    return "".join(out)


# A secret flag and its value as two items of an exec-form list, on one line: `command: ["--api-key", "x"]` (compose,
# a Dockerfile's CMD, Python's printed sys.argv), `args: [--api-key, x]`: the value was printed in every output (the
# flag's separator is `", "`, no blank or `=`; gsafe47). Quoted items quote both; bare ones stand in a flow list.
_ARGV_PAIR = re.compile(
    rf"""(?:(?P<q>\\{{0,3}}["'])(?P<qflag>--?[A-Za-z_][A-Za-z0-9_.\-]{{0,{KEY_MAX}}})(?P=q)[ \t]*,[ \t]*(?P<q2>\\{{0,3}}["']|(?=[^\s\-\]\[{{}},"']))"""
    rf"""|(?<=[\[,])[ \t]*(?P<flag>--?[A-Za-z_][A-Za-z0-9_.\-]{{0,{KEY_MAX}}})[ \t]*,[ \t]*(?=[^\s\-\]\[{{}},"']))"""
)


def _redact_argv_pairs(line: str) -> str:
    out: list[str] = []
    pos = 0
    for m in _ARGV_PAIR.finditer(line):
        if m.start() < pos:
            continue
        flag = (m.group("qflag") or m.group("flag")).lstrip("-")
        if not secret_flag(flag):
            continue
        start = m.end()
        q2 = m.group("q2")
        if q2:
            end = _quoted_value_end(line, start, q2)
        elif m.group("qflag"):
            # a quoted flag and a bare value: `command: ["--api-key", 12345678901]` (a number, or a YAML plain
            # scalar): printed in every output (gsafe53). One word, to its `,` or `]`
            v = _BARE_FLOW_WORD.match(line, start)
            end = v.end() if v else start
        else:
            v = _FLOW_ITEM.match(line, start)
            end = v.end() if v else start
        value = line[start:end]
        # a flag after a flag is the next option, not a value (the bare form's lookahead says so too): `"--no-auth-
        # warning", "-a", "x"` had `-a` hidden and redis-cli's password after it printed (lead52)
        if not value or _ALREADY.match(value) or value.startswith("-"):
            continue
        out.append(line[pos:start])
        out.append(REDACTED)
        pos = end
    if not out:
        return line
    out.append(line[pos:])
    return "".join(out)


_BARE_FLOW_WORD = re.compile(r"[^\s,\]\[{}\"']+(?=[ \t]*[,\]]|[ \t]*$)")
_FLOW_ITEM = re.compile(r"[^,\]\[{}\n\r]*[^,\]\[{}\s]")  # a bare flow item: to its `,` or `]`, its blanks around left


def _keep_pre(m: re.Match[str]) -> str:
    if _ALREADY.match(m.group("secret")):
        return m.group(0)
    return m.group("pre") + REDACTED


def _keep_pre_quoted(m: re.Match[str]) -> str:
    """_keep_pre, the closing quote of a quoted secret (group q) kept."""
    if _ALREADY.match(m.group("secret")):
        return m.group(0)
    return m.group("pre") + REDACTED + (m.group("q") or "")


class _KeepPreClosers:
    """_keep_pre for a header value, which runs over `}`, `]` and `)`: `{Authorization: Bearer x}` printed as
    `{Authorization: <redacted>` (gsafe44). A closer at its end that closes a bracket opened before the match is the
    line's. re.sub calls it left to right: the brackets are counted once along the line (per match: quadratic)."""

    def __init__(self) -> None:
        self.depth = {"}": 0, "]": 0, ")": 0}
        self.counted = 0

    def __call__(self, m: re.Match[str]) -> str:
        secret, line, at = m.group("secret"), m.string, m.start()
        for ch in line[self.counted : at]:
            if ch in "{[(":
                self.depth["}])"["{[(".index(ch)]] += 1
            elif self.depth.get(ch):
                self.depth[ch] -= 1
        self.counted = max(self.counted, at)
        used = dict(self.depth)
        tail = ""
        while len(secret) > 1 and used.get(secret[-1], 0) > 0:
            used[secret[-1]] -= 1
            tail, secret = secret[-1] + tail, secret[:-1]
        if _ALREADY.match(secret):
            return m.group(0)
        return m.group("pre") + REDACTED + tail


# Kubernetes' env entries name the variable and give its value under separate keys: `{name: DB_PASSWORD, value: x}`
# on one line, or `- name: DB_PASSWORD` then `value: x` on the next (an `audit --fix` diff's lines carry a
# +/-/space prefix). The value of a secret name is redacted in both forms (gsafe39: it was printed as is).
_ENV_NAME_LINE = re.compile(r"""^[ \t+\-]*["']?name["']?[ \t]*:[ \t]*["']?(?P<n>[A-Za-z_][\w.-]*)["']?[ \t]*,?[ \t]*\r?$""")
_ENV_VALUE_LINE = re.compile(r"""^(?P<pre>[ \t+\-]*["']?value["']?[ \t]*:[ \t]*)(?P<v>\S.*?)(?P<post>[ \t]*,?[ \t]*\r?\n?)$""", re.S)
_ENV_PAIR = re.compile(
    r"""(?:\\{0,3}["'])?name(?:\\{0,3}["'])?\s*:\s*(?:\\{0,3}["'])?(?P<n>[A-Za-z_][\w.-]*)(?:\\{0,3}["'])?\s*,\s*"""
    r"""(?:\\{0,3}["'])?value(?:\\{0,3}["'])?\s*:\s*"""
    # a plain flow scalar runs to the next ',', '}' or ']' and may hold spaces (review39: only its first word went);
    # a value in escaped quotes (`\"value\": \"x\"`, JSON quoted in a log line) runs to the next one (gsafe42)
    r"""(?P<v>\\{1,3}"[^"\\]*\\{1,3}"|"[^"]*"|'[^']*'|[^,{}\[\]\s](?:[^,{}\[\]\n]*[^,{}\[\]\s])?)"""
)


# the same entry with `value:` first (`{value: x, name: DB_PASSWORD}`, or `- value: x` then `name: DB_PASSWORD`):
# YAML keeps no key order (gsafe40: these were printed as is). A bare value stops at the next `value:` (review40:
# on a line of many `value:` keys each one scanned to the line's end, 10 s for 100 KB)
_ENV_PAIR_REV = re.compile(
    r"""["']?value["']?\s*:\s*(?P<v>"[^"]*"|'[^']*'|[^,{}\[\]\s](?:(?:(?!value["']?\s*:)[^,{}\[\]\n])*[^,{}\[\]\s])?)"""
    r"""\s*,\s*["']?name["']?\s*:\s*["']?(?P<n>[A-Za-z_][\w.-]*)["']?"""
)


# `- value: x` opening a list item (or `{"value": x,` a JSON object), and `name:` not opening one: the entry is
# written value first, so that `value:` is the named variable's (one space after the dash: a diff's `-` prefix is
# followed by the line's indentation)
_VALUE_OPENS_ITEM = re.compile(r"""^[+\- ]?[ \t]*(?:-[ \t]|\{[ \t]*)["']?value["']?[ \t]*:""")
_NAME_OPENS_ITEM = re.compile(r"""^[+\- ]?[ \t]*(?:-[ \t]|\{[ \t]*)["']?name["']?[ \t]*:""")


def env_value_above(value_line: str, name_line: str) -> bool:
    """`value_line` then `name_line` are one env entry written value first whose name is a secret's (gsafe40)."""
    return (
        _VALUE_OPENS_ITEM.match(value_line) is not None
        and _NAME_OPENS_ITEM.match(name_line) is None
        and secret_env_name_line(name_line)
    )


def _env_pair(m: re.Match[str]) -> str:
    v = m.group("v")
    if not is_secret_name(m.group("n")) or _ALREADY.match(v.strip("'\"")):
        return m.group(0)
    q = v[0] if v[:1] in "'\"" else ""
    return m.group(0)[: m.start("v") - m.start()] + f"{q}{REDACTED}{q}" + m.group(0)[m.end("v") - m.start() :]


def secret_env_name_line(line: str) -> bool:
    """`- name: DB_PASSWORD` alone on its line: the next line's `value:` is a secret."""
    m = _ENV_NAME_LINE.match(line.rstrip("\n"))
    return m is not None and is_secret_name(m.group("n"))


def redact_env_value_line(line: str) -> str:
    """The line after secret_env_name_line: its `value: x` redacted (other lines unchanged)."""
    m = _ENV_VALUE_LINE.match(line)
    if m is None or _ALREADY.match(m.group("v").strip("'\"")):
        return line
    v = m.group("v")
    q = v[0] if v[:1] in "'\"" and v[-1:] == v[0] and len(v) > 1 else ""
    return f"{m.group('pre')}{q}{REDACTED}{q}{m.group('post')}"


_ENV_VALUE_KEY = re.compile(r"""^(?P<ind>[ \t+\-]*)["']?value["']?[ \t]*:(?P<rest>.*?)\r?\n?$""", re.S)
_BLOCK_INDICATOR = re.compile(r"[|>][0-9+-]*(?:[ \t]+#.*)?")


def env_value_continues(line: str) -> int | None:
    """The `value:` line of a secret env entry whose value goes on below it (a block scalar `|` / `>`, nothing after
    the colon, a quoted string not closed on the line): the key's indentation, below which it ends; else None."""
    m = _ENV_VALUE_KEY.match(line)
    if m is None:
        return None
    rest = m.group("rest").strip()
    if not rest or _BLOCK_INDICATOR.fullmatch(rest) or (rest[0] in "\"'" and (len(rest) < 2 or rest[-1] != rest[0])):
        return len(m.group("ind"))
    return None


# `DB_PASSWORD:` (a compose environment mapping) with the value on the lines below it: nothing after the colon (a plain
# scalar continued) or a block scalar (`>-`, `|`). The key is an environment-style name (capitals, or with an
# underscore), so YAML's structural `secret:` or `auth:` keys keep their mappings; the diff of an audit --fix printed
# such values as context lines (gsafe41)
_SECRET_KEY_OPENS = re.compile(
    r"""^(?P<ind>[ \t+\-]*)["']?(?P<k>[A-Za-z_][\w.-]*)["']?[ \t]*:[ \t]*(?:[|>][0-9+-]*[ \t]*)?(?:#.*)?\r?\n?$"""
)


def secret_key_continues(line: str) -> int | None:
    """The indentation of a secret's key whose value goes on below it (see _SECRET_KEY_OPENS), else None."""
    if not line.rstrip("\r\n").endswith((":", "|", ">", "-", "+")) and "#" not in line:
        return None  # the common case, without the regex
    m = _SECRET_KEY_OPENS.match(line)
    if m is None:
        return None
    key = m.group("k")
    if not (key.isupper() or "_" in key) or not is_secret_name(key):
        return None
    return len(m.group("ind"))


def redact_continuation(line: str, indent: int) -> str | None:
    """A line below such a `value:`: redacted when it continues the value (blank, or indented past `indent`); None
    when it is the next key (the value ended)."""
    body = line.rstrip("\r\n")
    if not body.strip():
        return line
    ind = len(body) - len(body.lstrip(" \t+-"))
    if ind <= indent:
        return None
    return body[:ind] + REDACTED + line[len(body) :]


# `-e DB_PASSWORD=\` or `--db-password \` at a line's end: the shell joins the next line to the command (a
# `docker run` written over lines), so the secret is the first word of the next line, which no shape or name marks:
# an `audit --fix` diff printed it as a context line (gsafe41)
_SHELL_SECRET_CONT = re.compile(
    r"(?:(?<![A-Za-z0-9_.\-])(?P<key>-{0,2}[A-Za-z_][A-Za-z0-9_.\-]*)=|(?<!\S)(?P<flag>--?[A-Za-z_][A-Za-z0-9_.\-]*)[ \t]+)"
    r"\\\r?\n?$"
)
# the value's word: after a diff's first column and a YAML list's `- ` (the next item of argv_value_continues)
_FIRST_WORD = re.compile(r"^(?P<pre>[ \t]*(?:[+\-][ \t]*)?(?:-[ \t]+)?(?P<q>[\"']?))(?P<v>[^\s\"'\\]+)")


# A secret flag alone as an item of a list written one item a line: YAML's `- --api-key` (`- "--api-key"`), JSON's
# `"--api-key",`: the value is the next line's item, which no shape or name marks (compose `command:`, Kubernetes
# `args:`, devcontainer `runArgs`; printed in `--fix` diffs and quoted lines, gsafe47). A diff's own first column too.
_ARGV_FLAG_ITEM = re.compile(
    rf"""^[ +\-]?[ \t]*(?:-[ \t]+(?P<q>["']?)(?P<f1>--?[A-Za-z_][A-Za-z0-9_.\-]{{0,{KEY_MAX}}})(?P=q)"""
    rf"""|(?P<q2>["'])(?P<f2>--?[A-Za-z_][A-Za-z0-9_.\-]{{0,{KEY_MAX}}})(?P=q2)[ \t]*,)[ \t]*\r?\n?$"""
)


def argv_value_continues(line: str) -> bool:
    """`line` is a list item holding only a secret flag (see _ARGV_FLAG_ITEM): its value is the next line's item."""
    if "-" not in line or len(line) > KEY_MAX + 32:
        return False
    m = _ARGV_FLAG_ITEM.match(line)
    if m is None:
        return False
    flag = (m.group("f1") or m.group("f2")).lstrip("-")
    return secret_flag(flag)


def shell_value_continues(line: str) -> bool:
    """`line` ends with a secret's name and `=` (or a secret flag) and a backslash: its value is on the next line; or
    it is a list item holding only a secret flag (argv_value_continues): its value is the next item."""
    if not line.rstrip("\r\n").endswith("\\"):
        return argv_value_continues(line)
    m = _SHELL_SECRET_CONT.search(line)
    if m is None:
        return False
    if m.group("flag") and _SWITCH_NAME.search(m.group("flag").lstrip("-")):
        return False  # `--ask-vault-pass \`: a switch, the next line is the command's next word (gsafe53)
    return is_secret_name(m.group("key") or m.group("flag"))


def redact_shell_continuation(line: str) -> str:
    """The line after shell_value_continues: its first word (the value) redacted."""
    m = _FIRST_WORD.match(line)
    if m is None or _ALREADY.match(m.group("v")):
        return line
    end = m.end()
    if m.group("q"):  # a quoted value (`- "Walrus 77"`): to its closing quote, blanks and all
        end = max(end, _quoted_value_end(line, m.start("v"), m.group("q")))
    return m.group("pre") + REDACTED + line[end:]


def _redact_tool_args(line: str) -> str:
    """The passwords of known tools' own options (`redis-cli -a x`, `ldapsearch -w x`: redact_tools) hidden."""
    out: list[str] = []
    pos = 0
    for start, end in redact_tools.password_spans(line, is_secret_name):
        if start < pos or is_already(line[start:end]):
            continue
        out += [line[pos:start], REDACTED]
        pos = end
    return "".join(out) + line[pos:] if out else line


def redact_line(line: str) -> str:
    """Redact every secret shape in one line (or any text without PEM blocks)."""
    if not line:
        return line
    # cheap tests first: most lines hold none of the shapes (a 20k-device JSON report is 140k
    # lines), and each regex below costs far more than a lowered copy and one search
    low = line.lower()
    if not _ANY_HINT.search(low):
        return line
    if "@" in line and "://" in line:
        line = _URL_CREDS.sub(_keep_pre, line)
        line = _URL_USER_TOKEN.sub(_keep_pre, line)
    if "auth" in low or "bearer" in low or "basic" in low:
        line = _AUTH_HEADER.sub(_KeepPreClosers(), line)
        line = _BEARER.sub(_keep_pre, line)
    if _ANY_SECRET_WORD.search(low):
        line = _redact_kv(line)
        if "," in line and "-" in line:
            line = _redact_argv_pairs(line)
        if "value" in low and "name" in low:
            line = _ENV_PAIR.sub(_env_pair, line)
            line = _ENV_PAIR_REV.sub(_env_pair, line)
    if "-u" in line or "-U" in line or "--user" in line or "--proxy-user" in line:
        if "curl" in low or "wget" in low or "--proxy-user" in low:
            line = _USER_COLON_PW.sub(_keep_pre, line)
    if "-p" in line:
        if "sshpass" in low or ("login" in low and _LOGIN_CMD.search(low)):
            line = _redact_after_cmd(line)
        elif "mysql" in low:
            line = _DASH_P_GLUED.sub(_keep_pre_quoted, line)
    if "pass" in low:
        if _NETRC_TOKEN.match(low) and _netrc_line(low):
            line = _NETRC_PW.sub(_keep_pre, line)
        else:
            pw = _NETRC_PW_LINE.match(line)
            if pw and not _LOWER_WORD.fullmatch(pw.group("secret")):
                line = _keep_pre(pw) + line[pw.end() :]
    if "sig=" in low:
        line = _SAS_SIG.sub(_keep_pre, line)
    if "wandb" in low and "login" in low:
        line = _WANDB_KEY.sub(_keep_pre, line)
    if "aws" in low and "configure" in low:
        line = _AWS_SET.sub(_keep_pre, line)
    if redact_tools.HINT.search(low):
        line = _redact_tool_args(line)
    if _PREFIX_HINT.search(line):
        line = _PREFIXED.sub(REDACTED, line)
    return line


def redact_text(text: str) -> str:
    """Redact a whole text: PEM private key blocks first (they span lines), then each line."""
    if not text:
        return text
    text = _PEM_ONE_LINE.sub(f"-----BEGIN PRIVATE KEY-----{REDACTED}-----END PRIVATE KEY-----", text)
    r = LineRedactor()
    return r.feed(text) + r.finish()


def clip(text: str, limit: int, more: str = "") -> str:
    """`text` cut to `limit` characters (`more` appended when cut), redacted first when it is cut: a cut can leave a
    secret's head without the shape redact_text knows (a credential URL's password without its '@', a token shorter
    than its prefix's minimum), which the redactor of the output then lets through. A text that fits is left to
    that redactor (every output channel has one), so the common case costs a length test."""
    if len(text) <= limit:
        return text
    text = redact_text(text)
    return text if len(text) <= limit else text[:limit] + more


def redact_value(name: str, value: str) -> str:
    """An env var's value as it may be shown: by name first, then by the value's shape."""
    if is_secret_name(name):
        return REDACTED if value else value
    if name.lower().endswith("proxy"):
        # `HTTPS_PROXY=user:pw@proxy:3128` without a scheme (curl, pip and requests take it): the value alone has no
        # shape that marks the password, and the environment of `check --snapshot` and `--format json` printed it
        # (gsafe53)
        value = _SCHEMELESS_PROXY.sub(_keep_pre, value)
    return redact_text(value)


_SCHEMELESS_PROXY = re.compile(r"^(?P<pre>[ \t]*[^\s:/@\"']+:)(?P<secret>[^\s/@\"']+)(?=@[^\s/@\"'])")


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: redact_value(k, v) for k, v in env.items()}


def redact_str(text: str) -> str:
    """One string as it will be written inside JSON: redacted before it is escaped. In JSON a quote is `\\"`, which
    no shape of the line redactor knows: `password=\\"x\\"` or `{\\"HF_TOKEN\\": \\"x\\"}` in a quoted log line or a
    schema message went through the output stream's redactor as is (gsafe42)."""
    if "\n" in text or "\r" in text or "-----BEGIN" in text:
        return redact_text(text)
    return redact_line(text)


def redact_strings(obj: Any) -> Any:
    """A JSON-shaped object with every string in it (keys too) through redact_str; nothing dropped by name."""
    if isinstance(obj, str):
        return redact_str(obj)
    if isinstance(obj, dict):
        return {redact_strings(k): redact_strings(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_strings(v) for v in obj]
    return obj


def redact_obj(obj: Any) -> Any:
    """Every string inside a JSON-shaped object, redacted (keys with secret names drop their value)."""
    if isinstance(obj, str):
        return redact_text(obj)
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if isinstance(k, str) and isinstance(v, str) and is_secret_name(k) and v:
                out[k] = REDACTED
            else:
                out[k] = redact_obj(v)
        return out
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v) for v in obj]
    return obj


# --- big blocks: find the few lines that need a look in one pass --------------------------------
# A 500-service audit prints 190k lines of JSON; lowering and searching each line cost ~0.3 s.
# For a big ASCII block without PEM markers or other line breaks than \n, one Hyperscan pass over
# the block (case-insensitive, the parts of _ANY_HINT; `pat(?!h)` as `pat[^h]`: a line ends in \n) finds every
# line whose lowered text _ANY_HINT could match; only those go through redact_line, which decides
# exactly as before. The rest is copied. tests/test_safety_redact.py runs both paths on the same text.
BLOCK_MIN = 1 << 18
_OTHER_BREAKS = re.compile(r"[\r\x0b\x0c\x1c-\x1e]")  # str.splitlines() also splits there
_hint_db: list[Any] = []  # [] not built, [None] no Hyperscan, [(hyperscan, db, scratch)]


def _hint_scanner() -> Any:
    if not _hint_db:
        try:
            import hyperscan

            parts = [p.encode() for p in _ANY_HINT.pattern.replace("(?!h)", "[^h]").split("|")]
            db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            db.compile(
                expressions=parts,
                ids=list(range(len(parts))),
                elements=len(parts),
                flags=[hyperscan.HS_FLAG_CASELESS] * len(parts),
            )
            _hint_db.append((db, hyperscan.Scratch(db)))
        except Exception:  # no wheel for this platform, or a database error: the line-by-line path
            _hint_db.append(None)
    return _hint_db[0]


def _redact_value_lines(block: str, pos: int, indent: int, out: list[str], tail: list[int] | None) -> int:
    """Append the lines of a secret's value from `pos` on (deeper than `indent`), redacted, and return where they end;
    a value still open at the block's end puts its indentation in `tail` (it goes on in the next write, review41)."""
    while pos < len(block):
        cut = block.find("\n", pos)
        cut = len(block) if cut < 0 else cut + 1
        red = redact_continuation(block[pos:cut], indent)
        if red is None:
            return pos
        out.append(red)
        pos = cut
    if tail is not None:
        tail.append(indent)
    return pos


def _redact_block(block: str, tail: list[int] | None = None) -> str | None:
    """`block` (whole lines) redacted as redact_line on each line would; None: use the line path. `tail` gets the
    indentation of a secret's value still open at the block's end (its next lines come in the next write)."""
    if not block.isascii() or "-----BEGIN" in block or _OTHER_BREAKS.search(block):
        return None
    scanner = _hint_scanner()
    if scanner is None:
        return None
    db, scratch = scanner
    ends: list[int] = []

    def on_match(_id: int, _start: int, end: int, _flags: int, _ctx: Any) -> None:
        ends.append(end)

    db.scan(block.encode("ascii"), match_event_handler=on_match, scratch=scratch)
    if not ends:
        return block
    out: list[str] = []
    done: dict[str, str] = {}  # redact_line is a function of the line; reports repeat lines a lot
    pos = 0  # everything before pos is in out
    for end in sorted(ends):
        if end <= pos:
            continue  # a line already done
        start = block.rfind("\n", 0, end - 1) + 1
        stop = block.find("\n", end - 1)
        stop = len(block) if stop < 0 else stop + 1
        line = block[start:stop]
        value_first = False
        if start > 0 and secret_env_name_line(line):  # a `- value:` just above it is this secret's (gsafe40)
            prev = block.rfind("\n", 0, start - 1) + 1
            value_first = env_value_above(block[prev:start], line)
            if value_first and prev >= pos:
                out.append(block[pos:prev])
                out.append(redact_env_value_line(block[prev:start]))
                pos = start
            elif value_first and out:
                out[-1] = redact_env_value_line(out[-1])
        out.append(block[pos:start])
        red = done.get(line)
        if red is None:
            red = done[line] = redact_line(line)
        out.append(red)
        pos = stop
        nxt = block.find("\n", stop)
        nxt = len(block) if nxt < 0 else nxt + 1
        # its value on the next line, a word of its own; that line may end with the next secret's name and a
        # backslash (`hunter2 --api-token \`), whose value is the line after it (review41)
        chained = False
        while stop < len(block) and shell_value_continues(line):
            line = block[stop:nxt]
            out.append(redact_line(redact_shell_continuation(line)))
            pos = stop = nxt
            nxt = block.find("\n", stop)
            nxt = len(block) if nxt < 0 else nxt + 1
            chained = True
        if chained:
            continue
        key_indent = secret_key_continues(line)
        if key_indent is not None:  # `DB_PASSWORD:` with its value on the lines below
            pos = _redact_value_lines(block, stop, key_indent, out, tail)
            continue
        if (
            stop < len(block)
            and not value_first
            and secret_env_name_line(line)
            and _ENV_VALUE_LINE.match(block[stop:nxt])  # another line is left to its own hints (review40)
        ):  # its value on the next line
            out.append(redact_env_value_line(block[stop:nxt]))
            indent = env_value_continues(block[stop:nxt])  # the value's lines below it (review39)
            pos = nxt if indent is None else _redact_value_lines(block, nxt, indent, out, tail)
    out.append(block[pos:])
    return "".join(out)


class LineRedactor:
    """Stateful line-by-line redaction: a PEM private key block is hidden across lines."""

    def __init__(self) -> None:
        self._partial = ""
        self._in_pem = False
        self._env_value = False  # the last line was `name: <a secret name>`
        self._env_block: int | None = None  # in the lines of such a value below its `value:` (its indentation)
        self._held: str | None = None  # a `value:` line, kept until the next line says whose value it is
        self._shell_value = False  # the last line was `DB_PASSWORD=\`: this line's first word is the secret

    def feed(self, text: str) -> str:
        data = self._partial + text
        cut = data.rfind("\n")
        if cut < 0:
            self._partial = data
            return ""
        self._partial = data[cut + 1 :]
        block = data[: cut + 1]
        if len(block) >= BLOCK_MIN and not self._in_pem:
            head: list[str] = []
            while block and not self._in_pem and (
                self._held or self._env_value or self._env_block is not None or self._shell_value
            ):
                cut = block.find("\n") + 1  # the lines that go on the last write's env entry: the line path
                head.append(self._emit(block[:cut]))
                block = block[cut:]
            tail: list[int] = []  # a secret's value open at the block's end goes on in the line path
            fast = _redact_block(block, tail) if not self._in_pem else None
            if fast is not None:
                out = "".join(head) + self._hold_tail(block, fast)
                if tail:
                    self._env_block = tail[-1]
                return out
            return "".join(head) + "".join(self._emit(line) for line in block.splitlines(keepends=True))
        return "".join(self._emit(line) for line in block.splitlines(keepends=True))

    def _hold_tail(self, block: str, fast: str) -> str:
        """The block path's output, with the state the line path leaves after its last line: a `name:` of a
        secret waits for its `value:` in the next write, a `value:` line is held for a `name:` below it (review40)."""
        if not block:
            return fast
        last = block.rfind("\n", 0, len(block) - 1) + 1
        line = block[last:]
        above = block[block.rfind("\n", 0, last - 1) + 1 : last] if last else ""
        self._shell_value = shell_value_continues(line)  # as _line leaves it, a value line that continues too
        key_indent = secret_key_continues(line)
        if key_indent is not None:
            self._env_block = key_indent
        if secret_env_name_line(line):
            self._env_value = not (above and env_value_above(above, line))
        elif _ENV_VALUE_LINE.match(line) and env_value_continues(line) is None:
            cut = fast.rfind("\n", 0, len(fast) - 1) + 1
            self._held, fast = fast[cut:], fast[:cut]
        return fast

    def finish(self) -> str:
        rest, self._partial = self._partial, ""
        out = self._emit(rest) if rest else ""
        held, self._held = self._held, None
        return out + (held or "")

    def _emit(self, line: str) -> str:
        """_line, with a `value:` line held back one line: `- value: x` then `name: DB_PASSWORD` (gsafe40)."""
        out = self._line(line)
        held, self._held = self._held, None
        if held is not None and env_value_above(held, line):
            held = redact_env_value_line(held)
            self._env_value = False  # the line below starts the next entry
        if _ENV_VALUE_LINE.match(out) and self._env_block is None and env_value_continues(out) is None:
            self._held = out
            return held or ""
        return (held or "") + out

    def _line(self, line: str) -> str:
        if self._shell_value:  # the value line; it may itself end with the next secret's name (review41)
            self._shell_value = shell_value_continues(line)
            return redact_line(redact_shell_continuation(line))
        self._shell_value = not self._in_pem and shell_value_continues(line)
        if self._env_block is not None:
            red = redact_continuation(line, self._env_block)
            if red is not None:
                return red
            self._env_block = None
        if self._env_value:
            self._env_value = False
            self._env_block = env_value_continues(line)
            line = redact_env_value_line(line)
        elif not self._in_pem and secret_env_name_line(line):
            self._env_value = True
        elif not self._in_pem:
            self._env_block = secret_key_continues(line)
        if self._in_pem:
            if _PEM_END.search(line):
                self._in_pem = False
                return line[_PEM_END.search(line).start() :]  # type: ignore[union-attr]
            return f"{REDACTED}\n" if line.endswith("\n") else REDACTED
        begin = _PEM_BEGIN.search(line)
        if begin and not _PEM_END.search(line, begin.end()):
            self._in_pem = True
            return line[: begin.end()] + ("\n" if line.endswith("\n") else "")
        return redact_line(line)


class RedactingStream(io.TextIOBase):
    """A text stream that redacts complete lines before passing them on.

    A partial line waits for its newline (a secret split over two write() calls is still seen);
    flush() passes it on, redacted, so prompts and progress still appear.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._r = LineRedactor()

    # click.echo checks these to decide whether it may write to us directly
    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._inner, "encoding", "utf-8") or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self._inner, "errors", "strict")

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        try:
            return bool(self._inner.isatty())
        except (AttributeError, ValueError, OSError):
            return False

    def fileno(self) -> int:
        return int(self._inner.fileno())

    def write(self, s: str) -> int:
        out = self._r.feed(s)
        if out:
            self._inner.write(out)
        return len(s)

    def flush(self) -> None:
        rest = self._r.finish()
        if rest:
            self._inner.write(rest)
        self._inner.flush()

    @property
    def inner(self) -> Any:
        return self._inner
