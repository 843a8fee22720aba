"""rlts's Ray agent: places rlts env runners on a Ray cluster as actors (`python -m rlts_ray`)."""
