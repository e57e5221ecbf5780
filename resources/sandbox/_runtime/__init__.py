"""Code that runs inside the sandbox: the fork server and the two processes it forks.

Standard library only, relative imports only: this directory is bound read-only into the sandbox
and imported there as the top-level package `_runtime`.
"""
