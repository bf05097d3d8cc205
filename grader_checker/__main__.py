from grader_checker.cli import main

main()
