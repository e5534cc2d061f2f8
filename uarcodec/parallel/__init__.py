"""Spreading independent GOMs over processes and machines: the pure per-GOM jobs and the
executors that run them (in this process, in a local process pool, or on Ray)."""
