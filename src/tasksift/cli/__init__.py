"""The ``tasksift`` command line: parse, call the library, emit.

``forward`` is the entry point: standard library only, it sends a search of an index that
``tasksift serve`` serves to that service, and otherwise runs ``main``. ``main`` builds the
typer app from one module per command group (``indexing``, ``searching``, ``evaluation``,
``inspection``, ``tasks``, ``serving``), each registering its commands with a
``register(app)`` function, and is the one place where errors become a line on stderr and
an exit code. ``options`` holds the options commands share, ``console`` the consoles that
results and messages go through (the caller's, when a service runs a forwarded command).
Results go to stdout through ``output.emit``; heavy libraries are imported inside the
commands.
"""
