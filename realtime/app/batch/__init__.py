"""``realtime batch``: many files, and long videos in segments, in parallel on Ray.

- ``inputs``: files, folders and globs to (input, output) pairs;
- ``plan``: a video cut into segments at keyframes, each with its warm-up;
- ``worker``: the Ray actor that holds one style network and stylizes images, videos and
  segments;
- ``join``: finished segments into one file without re-encoding, with the source's audio;
- ``state``: what is finished, and whether it is still the file written;
- ``ray_session`` and ``reaper``: a local Ray that leaves no process or folder behind;
- ``run``: the driver: Ray, the workers, retries, resuming, progress.
"""
