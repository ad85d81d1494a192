"""The index on disk: manifest, generations, graph file, sidecar parts, reader."""
