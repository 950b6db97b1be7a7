"""runboard's command line and benchmarks: the root of the import graph (nothing imports it)."""
