"""Spreading independent GOMs over processes and machines: the pure per-GOM encode jobs and the
executors that run them (in this process, in a local process pool, or on Ray), the store of GOMs
finished before their turn, and GOMs decoded in worker processes."""
