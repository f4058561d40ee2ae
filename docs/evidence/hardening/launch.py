"""Start a command in a new session with SIGINT at its default disposition (a background job of
a non-interactive shell inherits SIGINT ignored, unlike a command started at a terminal)."""
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.signal(signal.SIGQUIT, signal.SIG_DFL)
os.setsid()
os.execvp(sys.argv[1], sys.argv[1:])
