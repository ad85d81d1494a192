"""Serving indexes to scripts and agents: a warm local search service (``tasksift serve``),
an MCP server (``tasksift mcp``) and a watcher that keeps an index up to date with its folder.

Modules: ``protocol`` (the service's JSON lines and its client, standard library only),
``answer`` (a search request answered into the text the command writes), ``catalog`` (the
served indexes: kept loaded, routed to by task, reloaded on a new generation), ``service``
(the Unix socket server), ``watcher`` (re-indexing on file changes, with watchfiles),
``mcp_server`` (the MCP tools, with the ``mcp`` SDK). Only ``watcher`` and ``mcp_server``
import those two libraries.
"""
