"""The one exception the benchmarks raise when they cannot go on."""


class BenchError(Exception):
    """A benchmark cannot go on (server did not start, a setup call failed...)."""
