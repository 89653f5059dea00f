"""A real fieldcrew-server on loopback for the binding tests: provisioned with its own admin
commands, serving on a free port, stopped after the test."""

import json
import os
import re
import subprocess
import urllib.request
from dataclasses import dataclass

import pytest

SERVER = os.environ.get("FIELDCREW_SERVER", "target/debug/fieldcrew-server")


@dataclass
class Server:
    url: str
    crew_token: str
    office_token: str

    def office(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.office_token}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")


def admin(data_dir, *args):
    out = subprocess.run(
        [SERVER, "--data", str(data_dir), *args], check=True, capture_output=True, text=True
    )
    return out.stdout


def token(data_dir, member, device):
    out = admin(data_dir, "issue-token", member, "--device", device)
    return re.search(r"token:\s+(\S+)", out).group(1)


@pytest.fixture
def server(tmp_path):
    data = tmp_path / "server"
    admin(data, "add-crew", "crew-west", "--name", "西湖班")
    admin(data, "add-member", "m-li", "--name", "李工", "--crew", "crew-west")
    admin(data, "add-member", "d-wang", "--name", "王调度", "--role", "dispatcher")
    crew_token = token(data, "m-li", "phone-1")
    office_token = token(data, "d-wang", "office")
    proc = subprocess.Popen(
        [SERVER, "--data", str(data), "serve", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        assert match, f"server did not start: {line!r}"
        yield Server(match.group(1), crew_token, office_token)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
