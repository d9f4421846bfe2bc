"""Render children without Python's start-up: a server imports the package (and torch)
once and forks one child per command, which runs ``videostyle.cli.main(argv)`` in its own
session with its own stdout/stderr files and environment, and can be killed like any
process. The reliability suites start dozens of renders; this saves the seconds each
``python -m videostyle`` spends importing torch. The child is a real process: SIGKILL,
its run folder, its ffmpeg children and its exit status are as with ``python -m``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

_SERVER = r"""
import json, os, sys
import torch
torch.set_num_threads(1)
import videostyle.pipeline, videostyle.networks, videostyle.recovery, videostyle.runlock
from videostyle.cli import main
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setsid()
            os.chdir(job["cwd"])
            os.environ.update(job["env"])
            for name in job["unset"]:
                os.environ.pop(name, None)
            for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
                os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            main(job["argv"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    print(json.dumps({"pid": pid}), flush=True)
    _, status, usage = os.wait4(pid, 0)
    print(json.dumps({"status": os.waitstatus_to_exitcode(status),
                      "cpu": usage.ru_utime + usage.ru_stime}), flush=True)
"""


def _stat(pid: str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


@dataclass
class Child:
    """One forked command: ``pid`` leads its own session."""

    server: ForkServer
    pid: int
    stdout_path: Path
    stderr_path: Path
    returncode: int | None = None
    cpu: float | None = None  # its CPU seconds and its children's, once it has ended

    def wait(self) -> int:
        if self.returncode is None:
            ended = self.server.read()
            self.returncode, self.cpu = int(ended["status"]), float(ended["cpu"])
        return self.returncode

    def cpu_so_far(self) -> float | None:
        """CPU seconds it used so far, with its children's (ended or running, such as
        ffmpeg); None once it has ended."""
        own = _stat(str(self.pid))
        if own is None or own[0] == "Z":
            return None
        ticks = sum(int(v) for v in own[11:15])  # utime, stime, cutime, cstime
        for entry in os.listdir("/proc"):
            if entry.isdigit() and entry != str(self.pid):
                fields = _stat(entry)
                if fields is not None and int(fields[3]) == self.pid:  # in its session
                    ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def poll(self) -> int | None:
        """The exit status when the child has ended (it is then reaped), else None."""
        if self.returncode is not None:
            return self.returncode
        try:
            with open(f"/proc/{self.pid}/stat") as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            state = "Z"
        return self.wait() if state == "Z" else None

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()


class ForkServer:
    """``start(argv)`` forks a render child; one child at a time."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.folder = Path(tempfile.mkdtemp(prefix="videostyle-forks-"))
        self.count = 0
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER], env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, cwd=tempfile.gettempdir(),
        )

    def read(self) -> dict[str, float]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "the fork server ended"
        return json.loads(line)

    def start(self, *argv: str | Path, env: dict[str, str] | None = None,
              unset: tuple[str, ...] = ()) -> Child:
        self.count += 1
        out = self.folder / f"{self.count}.out"
        err = self.folder / f"{self.count}.err"
        job = {"argv": [str(a) for a in argv], "env": env or {}, "unset": list(unset),
               "cwd": tempfile.gettempdir(), "stdout": str(out), "stderr": str(err)}
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        return Child(self, int(self.read()["pid"]), out, err)

    def run(self, *argv: str | Path, env: dict[str, str] | None = None) -> Child:
        child = self.start(*argv, env=env)
        child.wait()
        return child

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        for path in self.folder.iterdir():
            path.unlink()
        os.rmdir(self.folder)
