"""Passwords a tool takes by its own options (redact_tools): hidden in every form a command is written in, and the
same tools' other words kept. Each line is written from the tool's manual, not from a log."""

from __future__ import annotations

import pytest

from tpdoctor.redact import REDACTED, redact_text

SECRET = "Zq7Secr3tWord"

HIDDEN = [
    # redis-cli.c parseOptions: -a <password>, --pass <password>
    f"redis-cli -a {SECRET} ping",
    f"redis-cli -h redis -p 6379 -a '{SECRET}' --no-auth-warning ping",
    f"/usr/local/bin/valkey-cli --pass {SECRET}",
    f'test: ["CMD", "redis-cli", "--no-auth-warning", "-a", "{SECRET}", "ping"]',
    f"test: [CMD, redis-cli, -a, {SECRET}, ping]",
    f'test: ["CMD-SHELL", "redis-cli -a {SECRET} ping | grep PONG"]',
    f'command: sh -c "redis-cli -a {SECRET} ping && vllm serve m"',
    f"redis-server --appendonly yes --requirepass {SECRET}",
    f"command: [redis-server, --masterauth, {SECRET}]",
    # mongosh / database tools: -p, --password
    f"mongosh -u root -p {SECRET} --authenticationDatabase admin",
    f"mongodump --username root -p {SECRET} --out /backup",
    # OpenLDAP clients: -w passwd (getopt: glued too); ldappasswd -a old, -s new
    f"ldapsearch -x -H ldap://h -D cn=admin,dc=x -w {SECRET} -b dc=x",
    f"ldapadd -x -D cn=admin -w{SECRET} -f users.ldif",
    f"ldappasswd -x -D cn=admin -w pw1{SECRET} -s {SECRET} uid=bob",
    # samba: -U user%password; lftp: -u user,pass
    f"smbclient //nas/share -U alice%{SECRET} -c ls",
    f"smbclient //nas/share --user=alice%{SECRET}",
    f"lftp -u bob,{SECRET} sftp://h",
    # shadow-utils: useradd -p (glued too)
    f"useradd -m -p {SECRET} bob",
    f"usermod -p{SECRET} bob",
    # htpasswd -b: the last operand
    f"htpasswd -b -c /etc/nginx/.htpasswd admin {SECRET}",
    f"htpasswd -bnB admin {SECRET} > /etc/htpasswd",
    # rabbitmqctl, MinIO mc, openssl passwd, mkpasswd
    f"rabbitmqctl add_user admin {SECRET}",
    f"rabbitmqctl -n rabbit@h change_password admin {SECRET}",
    f"mc alias set minio http://minio:9000 minioadmin {SECRET}",
    f"mc config host add s3 https://s3.amazonaws.com AKIDEXAMPLE {SECRET}",
    f"openssl passwd -6 -salt abc {SECRET}",
    f"mkpasswd -m sha-512 {SECRET}",
    # ssh-keygen -N/-P, zip -P, 7z -p (glued), keytool, sqlcmd, mosquitto, mariadb -p (glued)
    f"ssh-keygen -t ed25519 -N {SECRET} -f /root/.ssh/id",
    f"zip -P {SECRET} -r out.zip dir",
    f"7z a -p{SECRET} out.7z dir",
    f"keytool -importkeystore -srcstorepass {SECRET} -deststorepass {SECRET}x",
    f"sqlcmd -S db -U sa -P '{SECRET}' -Q 'SELECT 1'",
    f"mosquitto_pub -h broker -u dev -P {SECRET} -t t -m m",
    f"mariadb -uroot -p{SECRET} app",
    # rclone config create NAME TYPE KEY VALUE...
    f"rclone config create r2 s3 provider Cloudflare secret_access_key {SECRET}",
    # a password on standard input: chpasswd, passwd --stdin, sudo -S, a registry login's --password-stdin
    f'echo "root:{SECRET}" | chpasswd',
    f'chpasswd <<< "root:{SECRET}"',
    f"echo {SECRET} | sudo -S apt-get install -y nvidia-container-toolkit",
    f"printf '%s' {SECRET} | passwd --stdin bob",
    f"echo -n {SECRET} | docker login --password-stdin -u me registry.example.com",
    f"echo '{SECRET}' | helm registry login --username me --password-stdin nvcr.io",
]


@pytest.mark.parametrize("line", HIDDEN)
def test_the_password_of_a_tool_option_is_hidden(line: str) -> None:
    out = redact_text(line + "\n")
    assert SECRET not in out
    assert REDACTED in out


def test_only_the_password_goes() -> None:
    assert redact_text(f"smbclient //nas/share -U alice%{SECRET} -c ls\n") == "smbclient //nas/share -U alice%<redacted> -c ls\n"
    assert redact_text(f'echo "root:{SECRET}" | chpasswd\n') == 'echo "root:<redacted>" | chpasswd\n'
    assert redact_text(f"redis-cli -h redis -p 6379 -a '{SECRET}' ping\n") == "redis-cli -h redis -p 6379 -a '<redacted>' ping\n"
    assert (
        redact_text(f'test: ["CMD", "redis-cli", "-a", "{SECRET}", "ping"]\n')
        == 'test: ["CMD", "redis-cli", "-a", "<redacted>", "ping"]\n'
    )


KEPT = [
    "redis-cli -h redis -p 6379 ping",
    "docker run -d -p 6379:6379 redis:7 redis-server --appendonly yes",
    'test: ["CMD", "redis-cli", "ping"]',
    "htpasswd -n admin",
    "htpasswd -c /etc/nginx/.htpasswd admin",
    "htpasswd -bn admin",
    "7z a -p out.7z dir",
    "7z x archive.7z -oout",
    "zip -r out.zip dir",
    "mariadb -p appdb",
    'ssh-keygen -t ed25519 -N "" -f /root/.ssh/id',
    "smbclient -U alice //nas/share",
    "keytool -list -storepass:env STOREPASS -keystore k.jks",
    "echo y | sudo apt-get install x",
    "echo $REGISTRY_PASSWORD | docker login --password-stdin -u me registry.example.com",
    "echo ${PW} | sudo -S true",
    "rabbitmqctl list_users",
    "mc alias list",
    "rclone config create r2 s3 provider Cloudflare region auto",
    "mongosh --port 27017 --quiet",
    "ldapsearch -x -LLL -b dc=example,dc=com uid=bob",
    "docker login --password-stdin -u me registry.example.com",
    "echo hello | grep hello",
]


@pytest.mark.parametrize("line", KEPT)
def test_the_same_tools_other_words_are_kept(line: str) -> None:
    assert redact_text(line + "\n") == line + "\n"
