"""The batch driver: plans the work, runs it on Ray workers, joins segments, resumes.

- **Ray.** Without an address (``--address`` or ``RAY_ADDRESS``) a local Ray starts inside the
  command with this machine's cores (and GPUs); with one, the same work runs on that cluster.
- **Workers** are actors: each loads the style network once. They are restarted by Ray when
  their process dies (a kill, out of memory) and the task they had is retried, so the batch
  still completes.
- **Resuming.** Work lives under ``OUT_DIR/.realtime-batch``, keyed by the input (path, size,
  modification time), the style network's file and every option that changes the output: a
  rerun skips outputs and segments already finished for the same key. Outputs get their final
  names only once complete.
- **Faults.** A bad input is reported with its one-line error and the others go on; the
  command then exits non-zero with a summary. Ctrl-C stops cleanly: finished outputs stay.
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
from realtime.app.batch.worker import Done, Worker
from realtime.core.config import RunConfig
from realtime.core.errors import UserError
from realtime.core.extras import missing_message
from realtime.core.files import sha256_file, write_bytes_atomic
from realtime.core.progress import progress_bar
from realtime.media.video_source import index_frames, probe_video

log = logging.getLogger(__name__)

STATE_DIR = ".realtime-batch"
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
    segments: list[Segment]
    paths: list[Path]
    remaining: set[int] = field(default_factory=set)
    frames: int = 0


class _State:
    """Where a batch keeps its work and remembers what is finished (OUT_DIR/.realtime-batch)."""

    def __init__(self, out_dir: Path) -> None:
        self.root = out_dir / STATE_DIR

    def _marker(self, item: Item) -> Path:
        return self.root / "done" / f"{item.relative}.json"

    def finished(self, item: Item, key: str, output: Path) -> bool:
        marker = self._marker(item)
        if not (output.is_file() and marker.is_file()):
            return False
        try:
            return json.loads(marker.read_text(encoding="utf-8")).get("key") == key
        except (OSError, ValueError):
            return False

    def mark(self, item: Item, key: str, frames: int) -> None:
        marker = self._marker(item)
        marker.parent.mkdir(parents=True, exist_ok=True)
        record = {"key": key, "input": str(item.source), "frames": frames}
        write_bytes_atomic(marker, json.dumps(record).encode("utf-8"))

    def segments_dir(self, item: Item, key: str) -> Path:
        return self.root / "segments" / f"{item.relative}.{key[:16]}"


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
    state = _State(out_dir)
    images, videos, total = _plan(items, out_dir, config, style_file, options, state, summary)
    if not images and not videos:
        summary.seconds = time.perf_counter() - started
        return summary
    gpu = config.engine.device in ("cuda", "tensorrt")
    _start_ray(ray, options)
    try:
        workers = _workers(ray, config, style_file, options, gpu)
        if on_workers is not None:
            on_workers(workers)
        _run(ray, workers, images, videos, out_dir, state, total, options, summary)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        if options.address is None and not os.environ.get("RAY_ADDRESS"):
            ray.shutdown()
    summary.seconds = time.perf_counter() - started
    return summary


def _plan(
    items: list[Item],
    out_dir: Path,
    config: RunConfig,
    style_file: Path,
    options: BatchOptions,
    state: _State,
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
            if state.finished(item, key, output):
                summary.skipped.append(output)
                continue
            if item.kind == "image":
                images.append((item, key))
                total += 1
                continue
            probe_video(item.source)  # a file that is no video fails here, in one line
            segments = plan_segments(
                index_frames(item.source), options.segment_seconds, options.warmup_frames
            )
        except (UserError, OSError) as exc:
            error = str(exc) if isinstance(exc, UserError) else f"cannot read it ({exc})"
            summary.failed[item.source] = error
            log.error("%s: %s", item.source, error)
            continue
        folder = state.segments_dir(item, key)
        paths = [folder / f"segment-{s.index:05d}.mp4" for s in segments]
        remaining = {s.index for s, p in zip(segments, paths, strict=True) if not p.is_file()}
        video = _Video(item, key, segments, paths, remaining)
        video.frames = sum(s.frames for s in segments if s.index not in remaining)
        videos.append(video)
        total += sum(s.frames for s in segments)
    return images, videos, total


def _start_ray(ray: Any, options: BatchOptions) -> None:
    address = options.address or os.environ.get("RAY_ADDRESS")
    try:
        # Ray's own notices (its start, its token) are not the user's business here.
        quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(include_dashboard=False, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise UserError(f"cannot start {where} ({' '.join(str(exc).split())[:200]})") from exc


def _workers(
    ray: Any, config: RunConfig, style_file: Path, options: BatchOptions, gpu: bool
) -> list[Any]:
    count = _worker_count(ray, options, gpu)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)) // count)
    # Each worker's inference threads: its share of the cores, so workers do not fight.
    engine = dataclasses.replace(config.engine, threads=config.engine.threads or cpus)
    worker_config = dataclasses.replace(config, engine=engine, progress=False)
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
    state: _State,
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
    result: Done, tag: Any, out_dir: Path, state: _State, summary: BatchSummary, bar: Any
) -> None:
    kind = tag[0]
    if kind == "image":
        _, item, key = tag
        if result.error:
            summary.failed[item.source] = result.error
            log.error("%s: %s", item.source, result.error)
            return
        state.mark(item, key, 1)
        summary.done.append(item.output(out_dir))
        summary.frames += 1
        bar.update(1)
        log.info("done: %s", item.output(out_dir))
        return
    _, video, segment = tag
    if video.item.source in summary.failed:
        return
    if result.error:
        summary.failed[video.item.source] = result.error
        log.error("%s: %s", video.item.source, result.error)
        return
    for notice in result.notices:
        log.info("note: %s: %s", video.item.source, notice)
    if result.damaged:
        known = summary.damaged.get(video.item.source)
        summary.damaged[video.item.source] = (
            f"{known}; {result.damaged}" if known else result.damaged
        )
        log.warning(
            "%s: input damaged (%s); every decodable frame is written",
            video.item.source,
            result.damaged,
        )
    video.remaining.discard(segment.index)
    video.frames += result.frames
    summary.frames += result.frames
    bar.update(result.frames)
    if not video.remaining:
        _finish_video(video, out_dir, state, summary)


def _finish_video(video: _Video, out_dir: Path, state: _State, summary: BatchSummary) -> None:
    output = video.item.output(out_dir)
    output.parent.mkdir(parents=True, exist_ok=True)
    frames = join_segments(video.item.source, video.paths, output)
    state.mark(video.item, video.key, frames)
    shutil.rmtree(video.paths[0].parent, ignore_errors=True)  # joined: the parts are done
    summary.done.append(output)
    log.info("done: %s (%d frames in %d segments)", output, frames, len(video.paths))
