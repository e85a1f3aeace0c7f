"""Passwords that a tool takes on its own command line, by its own options: no secret name marks them.

`redis-cli -a PASSWORD ping` in a compose healthcheck, `mongosh -u root -p PASSWORD`, `ldapsearch -w PASSWORD`,
`smbclient -U user%PASSWORD`, `htpasswd -b FILE USER PASSWORD`, `echo PASSWORD | docker login --password-stdin` were
printed as they stood (lead52: an `audit --fix` diff's context showed the healthcheck's password). Each tool's entry
below says which of its words is the password, from the tool's own manual. A command is read in shell form (blank-
separated words, quotes kept whole, to `;`, `&`, `|`, `<`, `>` or the line's end) or as an exec-form list
(`["CMD", "redis-cli", "-a", "x"]`, `[redis-cli, -a, x]`, to its `]`). Used by redact.redact_line.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from tpdoctor import rxcompat


@dataclass(frozen=True)
class ToolCreds:
    """Which words of one tool's command line are a password."""

    flags: frozenset[str] = frozenset()  # the next word, or `--flag=value`, or `-fvalue` of a one-letter flag
    glued_only: frozenset[str] = frozenset()  # only `-pvalue` glued: `-p value` prompts (mysql's rule)
    split: str = ""  # the flag's value is `user<split>password`: only what follows the first split is hidden
    sub: tuple[str, ...] = ()  # the subcommand words before the operands counted below
    operands: tuple[int, ...] = ()  # which operands after `sub` are passwords (1-based; -1: the last)
    needs_short: str = ""  # the operands are passwords only with this one-letter flag given (htpasswd's -b)
    value_flags: frozenset[str] = field(default_factory=frozenset)  # options that take the next word (not operands)
    pairs: bool = False  # operands after `sub` and two more (name, type) are KEY VALUE pairs (rclone config create)
    split_flags: frozenset[str] = frozenset()  # the flags `split` applies to (empty: all of `flags`)
    glued: bool = True  # a one-letter flag takes `-fvalue` (getopt); OpenSSL's parser takes no glued value
    # the tool's own commands given as operands (case-insensitive) and which operand after them is a password
    # (1-based, -1: the last): redis-cli's `AUTH [user] pw`, `CONFIG SET requirepass pw`
    commands: tuple[tuple[tuple[str, ...], int], ...] = ()


def _fs(*words: str) -> frozenset[str]:
    return frozenset(words)


_REDIS_CLI = ToolCreds(
    # redis src/redis-cli.c parseOptions: "-a <password>", "--pass"; its operands are a Redis command, whose AUTH
    # ("AUTH [username] password") and CONFIG SET requirepass|masterauth take a password (gsafe52: printed)
    flags=_fs("-a", "--pass"),
    value_flags=_fs(
        "-h", "-p", "-s", "-n", "-u", "-r", "-i", "-d", "-D", "-t", "--user", "--cacert", "--cacertdir", "--cert",
        "--key", "--tls-ciphers", "--tls-ciphersuites", "--sni", "--eval", "--pattern", "--count", "--rdb",
    ),
    commands=((("auth",), -1), (("config", "set", "requirepass"), 1), (("config", "set", "masterauth"), 1)),
)
_REDIS_SERVER = ToolCreds(flags=_fs("--requirepass", "--masterauth"))  # redis.conf: requirepass, masterauth
_MONGO = ToolCreds(flags=_fs("-p", "--password"))  # mongosh --help and the database tools: "-p, --password"
_LDAP = ToolCreds(flags=_fs("-w"))  # OpenLDAP clients/tools/common.c: "-w passwd  bind password"
_SMB = ToolCreds(flags=_fs("-U", "--user", "--username"), split="%")  # samba: "-U USERNAME[%PASSWORD]"
_KEYTOOL = ToolCreds(
    # JDK keytool/jarsigner: -storepass, -keypass (and -storepass:env VAR / :file F, which name no secret)
    flags=_fs("-storepass", "-keypass", "-srcstorepass", "-deststorepass", "-srckeypass", "-destkeypass", "-new")
)
_MARIADB = ToolCreds(glued_only=_fs("-p"))  # mariadb's client: "-p[password]"; `-p db` asks for it
TOOLS: dict[str, ToolCreds] = {
    **dict.fromkeys(("redis-cli", "valkey-cli", "keydb-cli"), _REDIS_CLI),
    **dict.fromkeys(("redis-server", "valkey-server", "keydb-server", "redis-sentinel"), _REDIS_SERVER),
    **dict.fromkeys(
        ("mongosh", "mongo", "mongodump", "mongorestore", "mongoexport", "mongoimport", "mongostat", "mongotop"), _MONGO
    ),
    **dict.fromkeys(
        ("ldapsearch", "ldapadd", "ldapmodify", "ldapdelete", "ldapmodrdn", "ldapcompare", "ldapwhoami", "ldapexop"),
        _LDAP,
    ),
    # ldappasswd(1): -w bind password, -a old password, -s new password
    "ldappasswd": ToolCreds(flags=_fs("-w", "-a", "-s")),
    **dict.fromkeys(("rpcclient", "smbcacls", "smbget", "smbmap"), _SMB),
    # smbclient(1): "smbclient {//server/service} [password]" besides `-U user%password` (gsafe53: the operand printed)
    "smbclient": ToolCreds(
        flags=_fs("-U", "--user", "--username"),
        split="%",
        operands=(2,),
        value_flags=_fs(
            "-L", "-I", "-p", "-W", "-n", "-m", "-s", "-O", "-T", "-D", "-c", "-d", "-t", "-A", "-M", "-b",
            "--list", "--ip-address", "--port", "--workgroup", "--netbiosname", "--max-protocol", "--configfile",
            "--socket-options", "--tar", "--directory", "--command", "--debuglevel", "--timeout", "--authentication-file",
            "--message", "--send-buffer",
        ),
    ),
    # lftp(1): "-u user[,pass]"
    "lftp": ToolCreds(flags=_fs("-u", "--user"), split=","),
    # shadow-utils useradd(8)/usermod(8): "-p, --password PASSWORD" (an encrypted password: still not to print)
    **dict.fromkeys(("useradd", "usermod"), ToolCreds(flags=_fs("-p", "--password"))),
    # Apache htpasswd(1): "-b  Use batch mode; i.e., get the password from the command line": the last operand
    "htpasswd": ToolCreds(operands=(-1,), needs_short="b", value_flags=_fs("-C", "-r")),
    # rabbitmqctl(8): add_user <username> <password>, change_password <username> <newpassword>,
    # authenticate_user <username> <password>
    **{
        f"rabbitmqctl {sub}": ToolCreds(sub=(sub,), operands=(2,), value_flags=_fs("-n", "--node", "-t", "--timeout"))
        for sub in ("add_user", "change_password", "authenticate_user")
    },
    # MinIO mc: `mc alias set ALIAS URL ACCESSKEY SECRETKEY` (and the older `mc config host add` with the same operands)
    "mc alias": ToolCreds(sub=("alias", "set"), operands=(4,), value_flags=_fs("--api", "--path")),
    "mc config": ToolCreds(sub=("config", "host", "add"), operands=(4,), value_flags=_fs("--api", "--lookup")),
    # openssl-passwd(1): `openssl passwd [-1|-5|-6|-salt S] PASSWORD...`: every operand is a password to hash
    "openssl passwd": ToolCreds(sub=("passwd",), operands=(0,), value_flags=_fs("-salt", "-in")),
    # whois's mkpasswd(1): `mkpasswd [-m METHOD] [-S SALT] [-R ROUNDS] PASSWORD [SALT]`
    "mkpasswd": ToolCreds(operands=(1,), value_flags=_fs("-m", "--method", "-S", "--salt", "-R", "--rounds", "-P")),
    # ssh-keygen(1): -N new_passphrase, -P passphrase
    "ssh-keygen": ToolCreds(flags=_fs("-N", "-P"), value_flags=_fs("-t", "-b", "-f", "-C")),
    # zip(1)/unzip(1): "-P password"; 7-Zip: "-p{Password}" glued (a bare -p asks)
    **dict.fromkeys(("zip", "unzip", "zipcloak"), ToolCreds(flags=_fs("-P", "--password"))),
    **dict.fromkeys(("7z", "7za", "7zr", "7zz"), ToolCreds(glued_only=_fs("-p"))),
    **dict.fromkeys(("keytool", "jarsigner"), _KEYTOOL),
    # sqlcmd/bcp (SQL Server): "-P password"
    **dict.fromkeys(("sqlcmd", "bcp"), ToolCreds(flags=_fs("-P"))),
    # mosquitto_pub(1)/_sub/_rr: "-P password", "--pw password"
    **dict.fromkeys(("mosquitto_pub", "mosquitto_sub", "mosquitto_rr"), ToolCreds(flags=_fs("-P", "--pw"))),
    **dict.fromkeys(("mariadb", "mariadb-dump", "mariadb-admin", "mariadb-import", "mariadb-check"), _MARIADB),
    # rclone config create|update NAME TYPE [KEY VALUE]...: the value of a secret key (pass, secret_access_key, token)
    "rclone config": ToolCreds(sub=("config",), pairs=True),
    # gsafe52: more tools of GPU servers and their services, each printed before
    # ipmitool(1): "-P password  Remote server password" (a GPU server's BMC)
    "ipmitool": ToolCreds(flags=_fs("-P")),
    # Dell racadm: "-p <password>"; rdesktop(1): "-p <password>"
    **dict.fromkeys(("racadm", "rdesktop"), ToolCreds(flags=_fs("-p"))),
    # etcdctl (v3): "--user=username[:password]", "--password"
    "etcdctl": ToolCreds(flags=_fs("--user", "--password"), split=":", split_flags=_fs("--user")),
    # cqlsh: "-p PASSWORD, --password=PASSWORD"; Neo4j cypher-shell: "-p, --password"; rabbitmqadmin: "-p, --password"
    **dict.fromkeys(("cqlsh", "cypher-shell", "rabbitmqadmin"), ToolCreds(flags=_fs("-p", "--password"))),
    # InfluxDB 2 CLI: `influx setup -p, --password`; every command's "-t, --token" (no glued value: InfluxDB 1's
    # `influx -port 8086 -precision rfc3339` has one-dash long options)
    "influx": ToolCreds(flags=_fs("-p", "--password", "-t", "--token"), glued=False),
    # mosquitto_passwd(1): "-b  Run in batch mode ... password on the command line": `-b FILE USER PASSWORD`
    "mosquitto_passwd": ToolCreds(operands=(-1,), needs_short="b", value_flags=_fs("-H", "-I")),
    # Net-SNMP snmpcmd(1): "-c COMMUNITY", "-A PASSPHRASE" (v3 authentication), "-X PASSPHRASE" (v3 privacy)
    **dict.fromkeys(
        (
            "snmpwalk", "snmpbulkwalk", "snmpget", "snmpgetnext", "snmpbulkget", "snmpset", "snmptable", "snmptrap",
            "snmpinform", "snmpdelta", "snmpdf", "snmpstatus", "snmpnetstat",
        ),
        ToolCreds(flags=_fs("-c", "-A", "-X")),
    ),
    # openssl-enc(1): "-k password" (OpenSSL's options take no glued value: `-kfile FILE` is another option)
    "openssl enc": ToolCreds(sub=("enc",), flags=_fs("-k"), glued=False, value_flags=_fs("-in", "-out", "-kfile")),
    # crane auth login: "-p, --password" (the engines' `login -p` is redact.py's; `auth` stands before crane's)
    # wpa_passphrase(8): `wpa_passphrase <ssid> [passphrase]` (gsafe53: printed)
    "wpa_passphrase": ToolCreds(operands=(2,)),
    "crane auth": ToolCreds(sub=("auth", "login"), flags=_fs("-p", "--password"), value_flags=_fs("-u", "--username")),
}
_TOOL_NAMES = sorted({name.split()[0] for name in TOOLS}, key=len, reverse=True)
# the tool's word: bare or a path (`/usr/local/bin/redis-cli`), not inside another word; in a list, quoted
# (the path's components taken possessively, from the path's first character only: from every `~` of a 64 KiB run, or
# every `a/` of `a/a/a…`, the unbounded `(?:[\w.~-]*/)*` ran to the run's end and back, 25 s and 240 s a line, gsafe53)
# a program word's directory part (`/usr/bin/`, `~/.local/bin/`), from the word's first character: _TOOL's and _SQLPLUS's
_PROGRAM_DIR = r"(?<![\w.~/-])(?:[\w.~-]*+/)*+"
_TOOL = rxcompat.compile(
    _PROGRAM_DIR + r"(?P<tool>" + "|".join(re.escape(n) for n in _TOOL_NAMES) + r")(?![\w.-])"
)
# the cheap test redact_line makes before reading any command (matched against the lowered line)
HINT = re.compile(
    r"redis|valkey|keydb|mongo|ldap|smb|rpcclient|lftp|useradd|usermod|htpasswd|rabbitmqctl|\bmc\b|passwd|ssh-keygen"
    r"|zip|7z|keytool|jarsigner|sqlcmd|\bbcp\b|mosquitto|mariadb|rclone|password-stdin|chpasswd|sudo|<<<"
    r"|ipmitool|racadm|rdesktop|etcdctl|cqlsh|cypher-shell|rabbitmqadmin|influx|snmp|openssl|crane"
    r"|kinit|cryptsetup|secret|with-token|vault"
    r"|freerdp|sqlplus|userid|conn|nmcli|wpa_passphrase|proxy|-x|npm|yarn"
)
# a shell word: bare characters, escapes and whole quotes, glued (linear: one character class per step); redact.py's
# reader of a `docker run` line's words too (gsafe53)
SHELL_WORD = _SHELL_WORD = rxcompat.compile(r"""(?:[^\s"'`;&|<>()\\]|\\.|"(?:[^"\\\n]|\\.)*+"|'[^'\n]*+')++""")
_BLANKS = re.compile(r"[ \t]+")
# an exec-form list item: quoted (JSON may escape its quotes in a log line) or bare, to its `,` or `]`
_LIST_ITEM = re.compile(
    r"""[ \t]*(?:(?P<q>\\{0,3}["'])(?P<qv>(?:(?!(?P=q)).)*)(?P=q)|(?P<bv>[^,\]\[\n"']*[^,\]\[\s"']))[ \t]*"""
)
_LIST_BEFORE = re.compile(r"""[\[,][ \t]*\\{0,3}["']?$""")
_LIST_NEXT = re.compile(r"""[ \t]*\\{0,3}["']?[ \t]*[,\]]""")


@dataclass
class _Word:
    start: int  # where the word's text starts (inside its quotes)
    end: int
    text: str


def _unquoted(line: str, start: int, end: int) -> tuple[int, int]:
    """The span inside the quotes when line[start:end] is one whole quoted word (`'x y'`, `"x"`)."""
    if end - start >= 2 and line[start] in "\"'" and line[end - 1] == line[start]:
        return start + 1, end - 1
    return start, end


def _shell_words(
    line: str, pos: int, limit: int | None = None, memo: dict[int, tuple[_Word, int] | None] | None = None
) -> list[_Word]:
    """The shell words after pos, to the command's end (`limit`: the first ones only). `memo` keeps each word by where
    the blanks before it start: the readings of one line's tools share their words (gsafe52)."""
    words: list[_Word] = []
    memo = {} if memo is None else memo
    while limit is None or len(words) < limit:
        if pos in memo:
            got = memo[pos]
        else:
            got = None
            blank = _BLANKS.match(line, pos)
            m = _SHELL_WORD.match(line, blank.end()) if blank is not None else None
            if m is not None:
                start, end = _unquoted(line, m.start(), m.end())
                got = (_Word(start, end, line[start:end]), m.end())
            memo[pos] = got
        if got is None:
            return words
        words.append(got[0])
        pos = got[1]
    return words


def _list_words(
    line: str, pos: int, limit: int | None = None, memo: dict[int, tuple[_Word, int] | None] | None = None
) -> list[_Word]:
    """The list's items after the tool's (pos: the tool word's end; its closing quote and comma follow)."""
    words: list[_Word] = []
    nxt = _LIST_NEXT.match(line, pos)
    if nxt is None or line[nxt.end() - 1] == "]":
        return words
    pos = nxt.end()
    while limit is None or len(words) < limit:
        m = _LIST_ITEM.match(line, pos)
        if m is None:
            return words
        g = "qv" if m.group("q") is not None else "bv"
        words.append(_Word(m.start(g), m.end(g), m.group(g)))
        pos = m.end()
        if line[pos : pos + 1] != ",":
            return words
        pos += 1
    return words


def _value_span(words: list[_Word], i: int, creds: ToolCreds) -> tuple[int, int] | None:
    """The span of the password that words[i], a password flag, gives (the next word, or after its `=`)."""
    w = words[i]
    flag, eq, value = w.text.partition("=")
    if eq:
        start = w.start + len(flag) + 1
    elif i + 1 < len(words):
        w = words[i + 1]
        start, value = w.start, w.text
    else:
        return None
    if creds.split and (not creds.split_flags or flag in creds.split_flags):
        head, sep, _ = value.partition(creds.split)
        if not sep:
            return None
        start += len(head) + 1
    return (start, w.end) if w.end > start else None


def _spans(words: list[_Word], creds: ToolCreds, secret_name: Callable[[str], bool]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    operands: list[_Word] = []
    short = ""
    skip = False
    for i, w in enumerate(words):
        if skip:
            skip = False
            continue
        text = w.text
        flag = text.partition("=")[0]
        if flag in creds.flags:
            span = _value_span(words, i, creds)
            if span is not None:
                spans.append(span)
            skip = "=" not in text
            continue
        glued = next(
            (f for f in creds.flags | creds.glued_only if len(f) == 2 and text.startswith(f) and creds.glued), None
        )
        if glued is not None and len(text) > 2 and text[2] != "=" and not text.startswith("--"):
            if creds.split:
                head, sep, _ = text[2:].partition(creds.split)
                if sep:
                    spans.append((w.start + 2 + len(head) + 1, w.end))
            else:
                spans.append((w.start + 2, w.end))
            continue
        if text.startswith("-") and text != "-":
            if not text.startswith("--"):
                short += text[1:]
            skip = flag in creds.value_flags and "=" not in text
            continue
        operands.append(w)
    for command, n in creds.commands:
        said = tuple(o.text.lower() for o in operands[: len(command)])
        ops = operands[len(command) :]
        if said == command and ops:
            # AUTH's last operand only when it has one or two (`AUTH user pw`)
            if n == -1 and len(ops) <= 2:
                spans.append((ops[-1].start, ops[-1].end))
            elif 0 < n <= len(ops):
                spans.append((ops[n - 1].start, ops[n - 1].end))
    if creds.pairs:
        rest = operands[len(creds.sub) + 1 + 2 :]  # after `config create NAME TYPE`
        # the word after each secret's name, whichever the pairs' alignment (a reading from a later `rclone` on the
        # line then finds no more than this one: password_spans reads it once)
        spans += [(v.start, v.end) for k, v in itertools.pairwise(rest) if secret_name(k.text)]
        return spans
    if creds.operands and (not creds.needs_short or creds.needs_short in short):
        ops = operands[len(creds.sub) :]
        for n in creds.operands:
            chosen = ops if n == 0 else [ops[n - 1]] if 0 < n <= len(ops) else [ops[-1]] if n == -1 and ops else []
            if n == -1 and len(ops) < 2:
                chosen = []  # `htpasswd -bn user` is no password on the line
            spans += [(o.start, o.end) for o in chosen]
    return spans


def _operands(words: list[_Word], value_flags: frozenset[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for w in words:
        if skip:
            skip = False
        elif w.text.startswith("-") and w.text != "-":
            skip = w.text in value_flags
        else:
            out.append(w.text)
    return out


def _creds_for(tool: str, words: list[_Word]) -> ToolCreds | None:
    if tool in TOOLS:
        return TOOLS[tool]
    for name, creds in TOOLS.items():
        if name.partition(" ")[0] == tool and creds.sub:
            operands = _operands(words, creds.value_flags)
            # the whole `sub` must be there (`mc alias set`), and only its operands count
            if operands[: len(creds.sub)] == list(creds.sub):
                return creds
    return None


# The words read after a tool whose password is an operand counted from it (`rabbitmqctl add_user USER PW`, `mc alias
# set A URL KEY SECRET`, `mkpasswd PW`): its operands come first. A tool whose password follows a flag, or is every
# operand or the last, is read to its command's end, once: a later word of that command that names the same tool
# reads a suffix of the same words, where the first reading found every password (gsafe52: 64 KiB of `redis-cli `
# read every word after each, 6,500 times: 184 s for one line).
_OPERAND_WORDS = 32


def _suffix_safe(creds: ToolCreds) -> bool:
    """Whether a reading of `creds` from a later word of the same command finds no password the first one missed."""
    return all(n in (0, -1) for n in creds.operands)


def _word_start(line: str, pos: int) -> int:
    """Where the blank-separated word holding line[pos] starts (the tool word's path is short: _TOOL's own start)."""
    j = pos
    while j > 0 and not line[j - 1].isspace() and pos - j < 256:
        j -= 1
    return j


def password_spans(line: str, secret_name: Callable[[str], bool]) -> list[tuple[int, int]]:
    """Where in `line` the known tools' command lines hold a password (sorted, possibly overlapping);
    `secret_name` tells a setting's name that holds a secret (rclone's `KEY VALUE` pairs)."""
    spans: list[tuple[int, int]] = []
    # per (tool entry, list form): the words (spans) a whole reading went over, and where the furthest one ended
    read: dict[tuple[int, bool], tuple[set[tuple[int, int]], int]] = {}
    memo: dict[int, tuple[_Word, int] | None] = {}
    for m in _TOOL.finditer(line):
        before = line[max(0, m.start() - 8) : m.start()]
        in_list = _LIST_BEFORE.search(before) is not None and _LIST_NEXT.match(line, m.end()) is not None
        # a list item that holds a whole shell command (`["CMD-SHELL", "redis-cli -a x ping"]`) is read as a shell's
        reader = _list_words if in_list else _shell_words
        after = m.end()
        q = line[after : after + 1]
        if not in_list and q in ("'", '"') and line.startswith(q, _word_start(line, m.start())):
            # the program's word quoted whole (`"$HOME/bin/redis-cli" -a PW`, `'/usr/bin/redis-cli' -a PW`): its
            # closing quote stopped the reading and the password was printed (gsafe53)
            after += 1
        creds = TOOLS.get(m.group("tool"))
        words = None if creds is not None else reader(line, after, _OPERAND_WORDS, memo)
        if creds is None:
            creds = _creds_for(m.group("tool"), words or [])
        if creds is None:
            continue
        if _suffix_safe(creds):
            starts, end = read.get((id(creds), in_list), (set(), -1))
            if m.span() in starts:
                continue  # a whole word of a command already read whole (a quoted `"redis-cli -a x"` is no such word)
            if m.start() > end:  # beyond every whole reading: read to the command's end
                words = reader(line, after, None, memo)
                starts.update((w.start, w.end) for w in words)
                read[(id(creds), in_list)] = (starts, max(end, words[-1].end if words else after))
        if words is None:  # inside a word of a whole reading (`sh -c "redis-cli …"` quoted in its operands), or a tool
            words = reader(line, after, _OPERAND_WORDS, memo)  # whose password is an operand counted from it
        if creds.pairs and [w.text for w in words[:2]] not in (["config", "create"], ["config", "update"]):
            continue
        spans += _spans(words, creds, secret_name)
    spans += _stdin_spans(line)
    spans += _shape_spans(line)
    return sorted(set(spans))


# gsafe53: passwords in shapes no flag table reads, each printed before
# FreeRDP's `/p:PASSWORD` (xfreerdp(1): "/p:<password> Password"), `/gp:` the gateway's, `/pth:` a password hash,
# `/gat:` a gateway access token; `/u:`, `/d:`, `/v:` stay
_FREERDP = re.compile(r"""(?<!\S)/(?:p|gp|pth|gat|password):(?P<v>"[^"\n]*"|'[^'\n]*'|[^\s"']+)""")
# Oracle's `sqlplus [options] user/password[@connect]` (SQL*Plus User's Guide, "SQLPLUS Program Syntax"), its
# `CONNECT user/password@db`, and Data Pump's and SQL*Loader's `userid=user/password[@db]`: the password is between the
# first `/` and the `@` (`sqlplus / as sysdba` and `sqlplus user@db`, which prompt, hold none; `connect a/b` without
# an `@` is prose)
_SQLPLUS = rxcompat.compile(
    r"""(?:""" + _PROGRAM_DIR + r"""sqlplus(?:[ \t]+-[A-Za-z]+)*[ \t]+|(?<![\w-])(?i:userid)=|(?<![\w-])(?i:conn(?:ect)?)[ \t]+(?=[^\s@]+@))"""
    r"""["']?[^\s/@"'-][^\s/@"']*/(?P<v>"[^"\n]*"|[^\s@"'/]+)(?=@|[ \t"']|$)"""
)
_CONNECT_WORD = re.compile(r"(?i)conn")
# NetworkManager's `nmcli dev wifi connect SSID password PW`, and a secret property given its value in `nmcli con add`
# / `modify` (nm-settings-nmcli(5): `wifi-sec.psk`, `802-1x.password`, `wep-key0`…, `+`/`-` prefixed too)
_NMCLI = re.compile(
    r"""(?<![\w.-])(?:password|[+-]?(?:[\w-]+\.)(?:psk|password|password-raw|wep-key[0-3]|leap-password|pin"""
    r"""|private-key-password|phase2-private-key-password|secrets))[ \t]+(?P<v>"[^"\n]*"|'[^'\n]*'|[^\s"']+)"""
)
# a proxy written without a scheme: `pip --proxy user:pw@host:port` ("[user:passwd@]proxy.server:port"), `curl -x
# u:pw@h`, `HTTPS_PROXY=u:pw@h`, pip.conf's `proxy = u:pw@h`, `"MY_PROXY": "u:pw@h"` (a URL with a scheme is
# redact.py's)
_PROXY = re.compile(
    r"""(?i)(?<![\w.-])(?:-x|-{0,2}[\w.-]*proxy["']?)(?:[ \t]*[=:][ \t]*|[ \t]+)["']?[^\s:/@"'=]+:(?P<v>[^\s/@"']+)@(?=[^\s/@"'])"""
)
# `vault login [options] TOKEN` (the token method's: Vault's CLI docs, "vault login"): the first operand when it is no
# `K=V` (another method's parameters, `password=` among them redact.py's) and no `-` (stdin); `-method=userpass` takes
# its parameters instead
# npm's `npm config set _authToken TOKEN` / `//registry/:_authToken TOKEN` (and `_auth`, `_password`), yarn berry's
# `yarn config set npmAuthToken TOKEN`: the setting's name and value as two words (gsafe53: printed)
_NPM_SET = re.compile(
    r"""(?<![\w-])(?:npm|pnpm|yarn)[ \t]+config[ \t]+set[ \t]+(?:--[\w-]+[ \t]+)*["']?\S*?(?:_authToken|_auth|_password"""
    r"""|npmAuthToken|npmAuthIdent)["']?[ \t]+(?P<v>"[^"\n]*"|'[^'\n]*'|[^\s"']+)"""
)
_VAULT_LOGIN = re.compile(r"(?<![\w.-])vault[ \t]+login(?![\w.-])")
_VAULT_VALUE_FLAGS = frozenset(
    {"-method", "-path", "-field", "-format", "-address", "-namespace", "-ca-cert", "-ca-path", "-client-cert",
     "-client-key", "-tls-server-name", "-wrap-ttl", "-mfa", "-header", "-agent-address"}
)


def _shape_spans(line: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    low = line.lower()

    def add(m: re.Match[str]) -> None:
        start, end = _unquoted(line, m.start("v"), m.end("v"))
        if end > start and not line.startswith("$", start):  # `/p:$PW`, `password "$PSK"`: a reference
            spans.append((start, end))

    if "freerdp" in low:
        for m in _FREERDP.finditer(line):
            add(m)
    if "sqlplus" in low or "userid" in low or _CONNECT_WORD.search(line):
        for m in _SQLPLUS.finditer(line):
            add(m)
    if "nmcli" in low:
        for m in _NMCLI.finditer(line):
            add(m)
    if "proxy" in low or "-x" in low:
        for m in _PROXY.finditer(line):
            add(m)
    if "config" in low and ("npm" in low or "yarn" in low):
        for m in _NPM_SET.finditer(line):
            add(m)
    if "vault" in low:
        for m in _VAULT_LOGIN.finditer(line):
            words = _shell_words(line, m.end(), _OPERAND_WORDS)
            skip = False
            for w in words:
                flag, eq, value = w.text.partition("=")
                if skip:
                    skip = False
                    continue
                if w.text.startswith("-") and w.text != "-":
                    if flag.lstrip("-") == "method" and value.lower() not in ("", "token"):
                        break
                    skip = not eq and "-" + flag.lstrip("-") in _VAULT_VALUE_FLAGS
                    if skip and flag.lstrip("-") == "method":
                        break  # `-method userpass`: its K=V parameters follow
                    continue
                if not eq and w.text != "-" and not w.text.startswith("$"):
                    spans.append((w.start, w.end))
                break
    return spans


# A password fed on standard input by echo/printf or a here-string to a program that reads one there: chpasswd(8)
# (`user:password` lines), passwd --stdin (RHEL), sudo -S ("read the password from the standard input"), and the
# registry logins' --password-stdin (docker, podman, helm registry, oras, skopeo, crane, nerdctl).
_FEEDER = rxcompat.compile(
    # printf's first word is its format (`printf '%s' PW`) when a word follows it
    r"(?<![\w-])(?:echo(?:[ \t]+-[neE]{1,3})*|printf(?:[ \t]+(?:'[^'\n]*+'|\"[^\"\n]*+\"|[^\s|;&]++)(?=[ \t]+[^\s|;&]))?)"
    r"[ \t]+(?P<v>\"(?:[^\"\\\n]|\\.)*+\"|'[^'\n]*+'|[^\s|;&<>\"']++)"
    r"[ \t]*\|[ \t]*(?P<rest>[^;&|\n]{0,400})"
)
_HERE = rxcompat.compile(r"<<<[ \t]*(?P<v>\"(?:[^\"\\\n]|\\.)*+\"|'[^'\n]*+'|[^\s|;&<>\"']++)")
_READS_STDIN = re.compile(
    r"^(?:sudo[ \t]+(?:-\w+[ \t]+)*)?(?:[\w./-]*/)?(?:chpasswd\b|passwd\b[^|]*--stdin|sudo\b[^|]*[ \t]-\w*S\b"
    r"|sudo[ \t]+--stdin\b|[\w.-]+\b[^|]*\blogin\b[^|]*--password-stdin"
    # gsafe52: kinit(1) and cryptsetup(8) read the password (passphrase) on standard input when it is no terminal;
    # `docker|podman secret create NAME -` the secret itself; `gh auth login --with-token`, `vault login -` a token;
    # `htpasswd -i` ("Read the password from stdin without verification") and `smbpasswd -s` a password
    r"|kinit\b|cryptsetup\b|(?:docker|podman)[ \t]+secret[ \t]+create\b[^|]*[ \t]-(?!\S)"
    r"|gh[ \t]+auth[ \t]+login\b[^|]*[ \t]--with-token\b|vault[ \t]+login\b[^|]*[ \t]-(?!\S)"
    r"|(?:htpasswd|mosquitto_passwd)\b[^|]*[ \t]-\w*i\b|smbpasswd\b[^|]*[ \t]-\w*s\b)"
)


_CMD_SEP = re.compile(r"[;&|\n]")
_CMD_HEAD = 400  # as _FEEDER's `rest`


def _stdin_spans(line: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    if "|" in line:
        for m in _FEEDER.finditer(line):
            if _READS_STDIN.match(m.group("rest")):
                spans.append(_inner(m, line, chpasswd="chpasswd" in m.group("rest")))
    if "<<<" in line:
        cmd_start = 0
        seps = _CMD_SEP.finditer(line)
        sep = next(seps, None)
        for m in _HERE.finditer(line):
            while sep is not None and sep.start() < m.start():  # the command's start: after the last separator
                cmd_start = sep.end()
                sep = next(seps, None)
            # its first words name the program (a 64 KiB command of `<<<x` words was read whole for each: gsafe52)
            cmd = line[cmd_start : min(m.start(), cmd_start + _CMD_HEAD)].strip()
            if _READS_STDIN.match(cmd):
                spans.append(_inner(m, line, chpasswd="chpasswd" in cmd))
    return spans


def _inner(m: re.Match[str], line: str, chpasswd: bool) -> tuple[int, int]:
    start, end = _unquoted(line, m.start("v"), m.end("v"))
    if chpasswd:  # `user:password`: the user stays
        colon = line.find(":", start, end)
        if colon >= 0:
            start = colon + 1
    return start, end
