"""grader: a safe, fast, teaching autograder for a graduate deep-learning problem set."""

__version__ = "0.1.0"
