from tasksift.cli import main

main()
