"""Grading tools of the course: release generation, batch autograding and the student check.

Everything here drives real nbgrader (``nbgrader.converters``) with a configuration built in
:mod:`autograder.course`; the command line is ``python -m autograder --help``.
"""
