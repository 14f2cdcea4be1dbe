"""Models: the catalogue and models on disk, downloads, import, the hub token."""
