"""``realtime batch``: many files, and long videos in segments, in parallel on Ray.

- ``inputs``: files, folders and globs to (input, output) pairs;
- ``plan``: a video cut into segments at keyframes, each with its warm-up;
- ``worker``: the Ray actor that holds one style network and stylizes images, videos and
  segments;
- ``join``: finished segments into one file without re-encoding, with the source's audio;
- ``run``: the driver: Ray, the workers, retries, resuming, progress.
"""
