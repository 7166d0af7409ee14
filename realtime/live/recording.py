"""The recording output: the stylized stream to a file, written under a temporary name and
finalised (as NAME.partial.EXT when stopped by a fault) like ``realtime video``'s output."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from realtime.core.config import EncodeConfig
from realtime.core.errors import UserError
from realtime.core.files import (
    OutputHold,
    check_output_folder,
    disk_full_error,
    human_bytes,
    partial_path,
)
from realtime.live.outputs import TIME_BASE, WallClock, nominal_rate
from realtime.media.video_sink import container_format


def check_record_path(path: Path) -> None:
    """Cheap checks on ``--record``, before the model and camera are opened."""
    if not path.suffix:
        raise UserError(f"--record {path} has no suffix; name it e.g. live.mp4 or live.mkv")
    check_output_folder(path, what="--record")
    container_format(path)


class RecordingOutput:
    """The stylized stream to a file, written as ``NAME.incomplete.EXT`` until it is closed.

    Stopping a live run (q, Ctrl-C, --duration, the end of a video file, a lost camera) is
    its normal end, so the recording then gets its final name. Only when the run dies of an
    unexpected error is it finalised as ``NAME.partial.EXT`` instead: still playable, but
    named so that nothing takes it for a finished recording.
    """

    name = "recording"
    holds_while_paused = False

    def __init__(
        self, path: Path, width: int, height: int, fps: float, encode: EncodeConfig
    ) -> None:
        from realtime.media.video_sink import VideoFileSink

        self.path = Path(path)
        check_record_path(self.path)
        # Held until closed: a second run recording to the same file is refused.
        self._hold = OutputHold(self.path)
        self.temp = self._hold.acquire()
        try:
            self._sink = VideoFileSink(
                self.temp, width, height, nominal_rate(fps), TIME_BASE, encode, audio_from=None
            )
        except BaseException:
            self.temp.unlink(missing_ok=True)
            self._hold.release()
            raise
        self._clock = WallClock()
        self.notices = self._sink.notices
        self._summary: str | None = None
        self.final_path: Path | None = None

    @property
    def frames_written(self) -> int:
        return self._sink.frames_written

    def write(self, frame: np.ndarray, timestamp: float) -> None:
        self._sink.write(frame, self._clock.pts(timestamp))
        if self._sink.disk_full:
            # Finalise what fits now; the error then stops the live run.
            self.close(complete=False)

    def close(self, complete: bool = True) -> str:
        """Finalise the file; DiskFullError (after finalising) when the disk filled."""
        if self._summary is not None:  # closed already (the disk filled)
            return self._summary
        try:
            self._sink.close()
        except BaseException:
            self.temp.unlink(missing_ok=True)
            self._hold.release()
            raise
        frames = self._sink.frames_written
        if frames == 0:
            self.temp.unlink(missing_ok=True)
            self._summary = f"recording: no frames, nothing written to {self.path}"
        else:
            full = self._sink.disk_full
            final = self.path if complete and not full else partial_path(self.path)
            size = self.temp.stat().st_size
            os.replace(self.temp, final)
            self.final_path = final
            self._summary = f"recording: {frames} frames -> {final}"
        self._hold.release()
        if self._sink.disk_full:
            kept = (
                f"{frames} frames ({human_bytes(size)}) finalised in {self.final_path}"
                if frames
                else "no frame could be kept"
            )
            raise disk_full_error(self.path, kept)
        return self._summary
