from tasksift.cli.forward import main

main()
