"""Sources enumerate blobs and where they were seen. They never import the engine or store."""
