"""tasksift: task-aware semantic search over local documents."""

__version__ = "0.1.0"
