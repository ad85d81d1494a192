"""The ``tasksift`` command line: parse, call the library, emit.

``main`` builds the typer app from one module per command group (``indexing``,
``searching``, ``evaluation``, ``inspection``, ``tasks``), each registering its commands
with a ``register(app)`` function, and is the one place where errors become a line on
stderr and an exit code. ``options`` holds the options commands share, ``console`` the
messages on stderr. Results go to stdout through ``output.emit``; heavy libraries are
imported inside the commands.
"""
