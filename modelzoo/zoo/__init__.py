"""The zoo: zoo.yaml (zoofile), releases (release), regression gates (compare) and sweeps (sweep)."""
