"""Benchmarks: ``python -m benchmarks NAME`` measures and prints, it never asserts.

NAME is a chapter (the part of ``book/NN_<name>.ipynb`` after the number), ``book`` (a full build
of the book) or ``grading``. Output: a readable table, then one JSON object on the last line.
"""
