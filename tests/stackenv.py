"""How every Python suite finds the stack it tests: scripts/test.sh exports STACK_DIR (and the
contents of $STACK_DIR/stack.env); by hand, export STACK_DIR of a running stack."""
import os

import pytest


def load_env_file(path):
    """KEY=VALUE lines (systemd EnvironmentFile style, optional double quotes) as a dict."""
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v.strip('"')
    return env


def stack_env():
    """The process environment completed with $STACK_DIR/stack.env; exits pytest without a stack."""
    env = dict(os.environ)
    if env.get("STACK_DIR"):
        for k, v in load_env_file(os.path.join(env["STACK_DIR"], "stack.env")).items():
            env.setdefault(k, v)
    if "ATRIUM_BASE_URL" not in env or "ATRIUM_STACK" not in env:
        pytest.exit("no stack: run through `make test`, or export STACK_DIR of a running stack", 2)
    return env
