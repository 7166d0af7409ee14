"""The batch driver: plans the work, runs it on Ray workers, joins segments, resumes.

- **Ray.** Without an address (``--address`` or ``RAY_ADDRESS``) a local Ray starts inside the
  command with this machine's cores (and GPUs); with one, the same work runs on that cluster.
- **Workers** are actors: each loads the style network once. They are restarted by Ray when
  their process dies (a kill, out of memory) and the task they had is retried, so the batch
  still completes.
- **Resuming.** Work lives under ``OUT_DIR/.realtime-batch``, keyed by the input (path, size,
  modification time), the style network's file and every option that changes the output: a
  rerun skips outputs and segments already finished for the same key, as long as they are
  still the files written (``state``). Outputs get their final names only once complete.
- **Damaged inputs** get what ``realtime video`` gives them: every decodable frame, and the
  same warning, once per file, said after the join (the segments' own damage, and the whole
  file's length against what its container promised).
- **Ray** runs in a folder of its own, removed afterwards (``ray_session``).
- **Faults.** A bad input is reported with its one-line error and the others go on; the
  command then exits non-zero with a summary. Ctrl-C or SIGTERM stops cleanly: the workers
  are stopped, finished outputs stay.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realtime.app.batch.inputs import Item
from realtime.app.batch.join import join_segments
from realtime.app.batch.plan import DEFAULT_WARMUP_FRAMES, Segment, plan_segments
from realtime.app.batch.ray_session import ray_session
from realtime.app.batch.state import BatchState, Written
from realtime.app.batch.worker import Done, Worker
from realtime.app.build import throughput_plan
from realtime.core.config import RunConfig
from realtime.core.errors import UserError
from realtime.core.extras import missing_message
from realtime.core.files import discard_unheld, sha256_file
from realtime.core.progress import progress_bar
from realtime.core.signals import reclaim_sigterm
from realtime.media.encoders import choose_encoder
from realtime.media.video_source import FrameIndex, index_frames, probe_video

log = logging.getLogger(__name__)

DEFAULT_SEGMENT_SECONDS = 10.0


@dataclass(frozen=True)
class BatchOptions:
    mix: dict[str, float] = field(default_factory=dict)  # a multi-style network's mix
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS
    warmup_frames: int = DEFAULT_WARMUP_FRAMES
    address: str | None = None  # None: RAY_ADDRESS, else a local Ray inside the command
    workers: int | None = None  # None: one per CPU (one per GPU with a GPU device)
    progress: bool = True


@dataclass
class BatchSummary:
    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # finished by an earlier run
    failed: dict[Path, str] = field(default_factory=dict)  # input -> its one-line error
    # input -> what was wrong with it; every decodable frame was still written
    damaged: dict[Path, str] = field(default_factory=dict)
    frames: int = 0
    seconds: float = 0.0
    interrupted: bool = False


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise UserError(missing_message("realtime batch", "ray")) from exc
    return ray


@dataclass
class _Video:
    """A video's plan and what is finished of it."""

    item: Item
    key: str
    index: FrameIndex
    segments: list[Segment]
    paths: list[Path]
    remaining: set[int] = field(default_factory=set)
    frames: int = 0
    damage: list[str] = field(default_factory=list)  # its segments' damage, each said once

    def add_damage(self, what: str | None) -> None:
        if what and what not in self.damage:
            self.damage.append(what)


def _about(source: Path, error: str) -> str:
    """``source: error``, without the path twice where the error already names it."""
    return error if str(source) in error else f"{source}: {error}"


def item_key(item: Item, config: RunConfig, style_file: Path, options: BatchOptions) -> str:
    """What an output depends on: the input file, the network, the options that change it."""
    stat = item.source.stat()
    recipe = {
        "input": str(item.source.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "network": sha256_file(style_file),
        "process": dataclasses.asdict(config.process),
        "encode": dataclasses.asdict(config.encode),
        "mix": options.mix,
        "segment_seconds": options.segment_seconds,
        "warmup_frames": options.warmup_frames,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()


def _worker_count(ray: Any, options: BatchOptions, gpu: bool) -> int:
    resources = ray.cluster_resources()
    if options.workers is not None:
        if options.workers < 1:
            raise UserError(f"--workers must be at least 1, got {options.workers}")
        return options.workers
    if gpu:
        return max(1, int(resources.get("GPU", 0)))
    return max(1, int(resources.get("CPU", 1)))


def run_batch(
    items: list[Item],
    out_dir: Path,
    config: RunConfig,
    style_file: Path,
    options: BatchOptions,
    on_workers: Callable[[list[Any]], None] | None = None,
) -> BatchSummary:
    """Stylize ``items`` into ``out_dir`` with the network ``style_file`` (an .onnx).

    ``on_workers`` is called with the actor handles once they exist (tests use it to kill one).
    """
    ray = import_ray()
    started = time.perf_counter()
    summary = BatchSummary()
    state = BatchState(out_dir)
    images, videos, total = _plan(items, out_dir, config, style_file, options, state, summary)
    if not images and not videos:
        summary.seconds = time.perf_counter() - started
        return summary
    gpu = config.engine.device in ("cuda", "tensorrt")
    address = options.address or os.environ.get("RAY_ADDRESS")
    if videos and not address:
        choose_encoder(config.encode.encoder)  # its note, now that videos will be encoded here
    try:
        with ray_session(ray, address):
            # ray.init makes SIGTERM exit at once (sys.exit(15)); ours stops like Ctrl-C.
            reclaim_sigterm()
            workers = _workers(ray, config, style_file, options, gpu)
            if on_workers is not None:
                on_workers(workers)
            _run(ray, workers, images, videos, out_dir, state, total, options, summary)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (realtime.core.signals)
        summary.interrupted = True
    if summary.interrupted:
        _discard_unfinished(images, videos, out_dir)
    summary.seconds = time.perf_counter() - started
    return summary


def _discard_unfinished(
    images: list[tuple[Item, str]], videos: list[_Video], out_dir: Path, grace: float = 10.0
) -> None:
    """After a stop: the in-progress files of the workers that were stopped mid-write. Only
    those no live process holds go; a worker's lock goes with its process, which Ray ends a
    moment after ``ray.shutdown`` returns, so held ones are tried again for ``grace`` s."""
    paths = [item.output(out_dir) for item, _ in images]
    for video in videos:
        paths += [video.item.output(out_dir), *video.paths]
    deadline = time.monotonic() + grace
    while True:
        paths = [path for path in paths if not discard_unheld(path)]
        if not paths or time.monotonic() > deadline:
            return
        time.sleep(0.2)


def _plan(
    items: list[Item],
    out_dir: Path,
    config: RunConfig,
    style_file: Path,
    options: BatchOptions,
    state: BatchState,
    summary: BatchSummary,
) -> tuple[list[tuple[Item, str]], list[_Video], int]:
    """Probe every input (bad ones fail here, in one line each), skip finished ones."""
    images: list[tuple[Item, str]] = []
    videos: list[_Video] = []
    total = 0
    for item in items:
        output = item.output(out_dir)
        try:
            key = item_key(item, config, style_file, options)
            if (earlier := state.finished(item, key, output)) is not None:
                summary.skipped.append(output)
                _damaged(summary, item.source, earlier.damaged, " (by an earlier run)")
                continue
            if item.kind == "image":
                images.append((item, key))
                total += 1
                continue
            probe_video(item.source)  # a file that is no video fails here, in one line
            index = index_frames(item.source)
        except (UserError, OSError) as exc:
            error = str(exc) if isinstance(exc, UserError) else f"cannot read it ({exc})"
            summary.failed[item.source] = error
            log.error("%s", _about(item.source, error))
            continue
        video = _video_plan(item, key, index, options, state)
        videos.append(video)
        total += sum(s.frames for s in video.segments)
    return images, videos, total


def _video_plan(
    item: Item, key: str, index: FrameIndex, options: BatchOptions, state: BatchState
) -> _Video:
    """A video's segments, and those an earlier run finished (as written, with their damage)."""
    segments = plan_segments(index, options.segment_seconds, options.warmup_frames)
    folder = state.segments_dir(item, key)
    paths = [folder / f"segment-{s.index:05d}.mp4" for s in segments]
    video = _Video(item, key, index, segments, paths)
    for segment, path in zip(segments, paths, strict=True):
        earlier = state.segment_finished(path)
        if earlier is None:
            video.remaining.add(segment.index)
        else:
            video.frames += segment.frames  # the progress bar counts planned frames
            video.add_damage(earlier.damaged)
    return video


def _damaged(summary: BatchSummary, source: Path, what: str | None, when: str = "") -> None:
    """Record and say a damaged input: ``realtime video``'s warning, with the file's name."""
    if not what:
        return
    summary.damaged[source] = what
    log.warning("%s: input damaged (%s); every decodable frame was written%s", source, what, when)


def _workers(
    ray: Any, config: RunConfig, style_file: Path, options: BatchOptions, gpu: bool
) -> list[Any]:
    count = _worker_count(ray, options, gpu)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)) // count)
    # Each worker's inference threads: its share of the cores, so workers do not fight.
    engine = dataclasses.replace(config.engine, threads=config.engine.threads or cpus)
    # x264 as `realtime video` runs it: its output depends on its thread count, so another
    # count (x264's own choice was 1.5 per core) made every frame differ by about 2 levels.
    x264 = throughput_plan(config).encode_threads if not gpu else config.encode.threads
    encode = dataclasses.replace(config.encode, threads=x264)
    worker_config = dataclasses.replace(config, engine=engine, encode=encode, progress=False)
    remote = ray.remote(Worker).options(
        num_cpus=1 if not gpu else 0,
        num_gpus=1 if gpu else 0,
        max_restarts=-1,  # a dead worker comes back (and loads its network again) ...
        max_task_retries=-1,  # ... and the task it had runs again
    )
    workers = [remote.remote(worker_config, str(style_file), options.mix) for _ in range(count)]
    ray.get([w.pid.remote() for w in workers])  # loaded: a bad network fails here, once
    return workers


def _run(
    ray: Any,
    workers: list[Any],
    images: list[tuple[Item, str]],
    videos: list[_Video],
    out_dir: Path,
    state: BatchState,
    total: int,
    options: BatchOptions,
    summary: BatchSummary,
) -> None:
    """Hand the jobs to the workers, two in flight each (one running, one queued, so no
    worker waits for the driver), and record each as it finishes."""
    jobs: deque[tuple[str, tuple[Any, ...], tuple[Any, ...]]] = deque()
    for item, key in images:
        jobs.append(("image", (item.source, item.output(out_dir)), ("image", item, key)))
    for video in videos:
        if not video.remaining:  # every segment finished by an earlier run: join only
            _finish_video(video, out_dir, state, summary)
        for segment in video.segments:
            if segment.index in video.remaining:
                args = (video.item.source, segment, video.paths[segment.index])
                jobs.append(("segment", args, ("segment", video, segment)))
    slots = deque(workers * 2)
    in_flight: dict[Any, tuple[tuple[Any, ...], Any]] = {}
    done_frames = sum(v.frames for v in videos)
    with progress_bar(
        total, "batch", "frames", enabled=options.progress, initial=done_frames
    ) as bar:
        while jobs or in_flight:
            while jobs and slots:
                worker = slots.popleft()
                method, args, tag = jobs.popleft()
                in_flight[getattr(worker, method).remote(*args)] = (tag, worker)
            (ready,), _ = ray.wait(list(in_flight), num_returns=1)
            tag, worker = in_flight.pop(ready)
            slots.append(worker)
            try:
                result = ray.get(ready)
            except Exception as exc:  # noqa: BLE001 - the task failed for good: one line
                result = Done(error=f"a worker failed ({type(exc).__name__}: {_first(exc)})")
            _record(result, tag, out_dir, state, summary, bar)


def _first(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


def _record(
    result: Done, tag: Any, out_dir: Path, state: BatchState, summary: BatchSummary, bar: Any
) -> None:
    kind = tag[0]
    if kind == "image":
        _, item, key = tag
        if result.error:
            summary.failed[item.source] = result.error
            log.error("%s", _about(item.source, result.error))
            return
        output = item.output(out_dir)
        state.mark(item, key, output, Written(1))
        summary.done.append(output)
        summary.frames += 1
        bar.update(1)
        log.info("done: %s", output)
        return
    _, video, segment = tag
    if video.item.source in summary.failed:
        return
    if result.error:
        summary.failed[video.item.source] = result.error
        log.error("%s", _about(video.item.source, result.error))
        return
    for notice in result.notices:
        log.info("note: %s", _about(video.item.source, notice))
    state.mark_segment(video.paths[segment.index], Written(result.frames, result.damaged))
    video.add_damage(result.damaged)
    video.remaining.discard(segment.index)
    summary.frames += result.frames
    bar.update(segment.frames)  # planned: a damaged segment still ends its share of the bar
    if not video.remaining:
        _finish_video(video, out_dir, state, summary)


def _finish_video(video: _Video, out_dir: Path, state: BatchState, summary: BatchSummary) -> None:
    """Join the segments (those that decoded anything), then judge the whole file as
    ``realtime video`` does after its one pass: the segments' damage and the file's length."""
    source, output = video.item.source, video.item.output(out_dir)
    parts = [path for path in video.paths if path.is_file()]
    if not parts:  # the driver's probe decoded a frame, so this is a file changed meanwhile
        summary.failed[source] = "no frame decoded in any segment; the file may have changed"
        log.error("%s: %s", source, summary.failed[source])
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    frames = join_segments(source, parts, output)
    damaged = "; ".join([*video.damage, *filter(None, [video.index.damage(frames)])]) or None
    state.mark(video.item, video.key, output, Written(frames, damaged))
    shutil.rmtree(video.paths[0].parent, ignore_errors=True)  # joined: the parts are done
    summary.done.append(output)
    log.info("done: %s (%d frames in %d segments)", output, frames, len(video.paths))
    _damaged(summary, source, damaged)
