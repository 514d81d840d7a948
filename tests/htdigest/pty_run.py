"""Runs a command on a new pseudo-terminal and types PASSWORD (an environment variable)
at every password prompt, the way a person at a terminal would.

Apache's `htdigest` reads passwords from the terminal only, and flushes anything typed
before its prompt, so the password is written after each prompt appears, never before.

Usage: PASSWORD=... python3 pty_run.py COMMAND [ARG...]
Prints the terminal's output; exits with the command's status (1 on a 10 s timeout).
"""

import os
import pty
import select
import sys
import termios
import time

password = os.environ["PASSWORD"].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])

output = b""
pending = b""
deadline = time.monotonic() + 10
while True:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        os.kill(pid, 9)
        sys.stdout.write(output.decode(errors="replace"))
        sys.exit("pty_run: timed out waiting for the command")
    ready, _, _ = select.select([fd], [], [], remaining)
    if not ready:
        continue
    try:
        chunk = os.read(fd, 1024)
    except OSError:  # EIO: the command closed the terminal
        break
    if not chunk:
        break
    output += chunk
    pending += chunk
    # Each prompt ends with "password: "; answer it once.
    if pending.rstrip().lower().endswith(b"password:"):
        pending = b""
        # A program may print its prompt before it turns echo off: type only once the
        # terminal stops echoing (as a person would, some milliseconds later), so what
        # the screen shows is the program's doing, not a race. Give up waiting after 2 s
        # and type anyway: a program that never turns echo off must be caught echoing.
        wait_until = time.monotonic() + 2
        while termios.tcgetattr(fd)[3] & termios.ECHO and time.monotonic() < wait_until:
            time.sleep(0.005)
        os.write(fd, password + b"\r")

_, status = os.waitpid(pid, 0)
sys.stdout.write(output.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
