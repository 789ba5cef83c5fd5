"""What a run measures besides the loop: environment facts (env), power (power, power_readers)
and memory, stability and time to target (resources)."""
