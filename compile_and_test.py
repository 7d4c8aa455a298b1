#!/usr/bin/env python3
"""Builds logstore and runs its test suite; exits with the suite's status."""
import subprocess
import sys


def main() -> int:
    for cmd in (["cargo", "build", "--workspace", "--all-targets"], ["cargo", "test", "--workspace"]):
        print("+", " ".join(cmd), flush=True)
        status = subprocess.call(cmd)
        if status != 0:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
