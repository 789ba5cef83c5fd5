"""The runs folder: run records (records) and the locks that guard run folders (runlock)."""
