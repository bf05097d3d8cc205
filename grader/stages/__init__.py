"""The grading stages in pipeline order: load, cases, checking, diagnosis, scoring."""
