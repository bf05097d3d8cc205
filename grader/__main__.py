"""`python -m grader` is the `grader` command."""

from grader.commands.cli import main

main()
