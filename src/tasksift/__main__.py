from tasksift.cli.main import main

main()
