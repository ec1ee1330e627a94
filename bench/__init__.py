"""Benchmarks: each module has ``main()`` printing ratios against a reference from the same run."""
