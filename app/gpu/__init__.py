"""The GPU page: what each card runs, and the choice of device and load profile."""
