"""Switching between separate style networks live: the next one loads in a thread while the
current one keeps painting (a multi-style network switches without loading: ``mixing``)."""

from __future__ import annotations

import concurrent.futures
from collections import OrderedDict
from collections.abc import Callable, Sequence

from realtime.core.errors import UserError
from realtime.runtime.frames import Stylize

# Loaded networks kept for switching back at once: the current one, the one before it and one
# more. Each holds its session's memory (on a GPU an arena grown to its peak, never given
# back while the session lives), so cycling through many styles must not keep them all.
MAX_LOADED = 3


class StyleSwitcher:
    """Cycles through style names; loads the next stylizer in a thread while the current one
    keeps running, and keeps up to ``max_loaded`` loaded ones (the most recently used) so
    switching back is instant."""

    def __init__(
        self,
        names: Sequence[str],
        current: str,
        current_stylizer: Stylize,
        load: Callable[[str], Stylize],
        max_loaded: int = MAX_LOADED,
    ) -> None:
        if max_loaded < 2:
            raise ValueError("max_loaded must keep the current style and the next one")
        self.names = list(names) if current in names else [current, *names]
        self.index = self.names.index(current)
        self._target = self.index
        self._load = load
        self._max_loaded = max_loaded
        self._loaded: OrderedDict[int, Stylize] = OrderedDict({self.index: current_stylizer})
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._loading: tuple[int, concurrent.futures.Future[Stylize]] | None = None

    @property
    def current(self) -> str:
        return self.names[self.index]

    @property
    def requested(self) -> str:
        """The style asked for last (the current one until it has loaded)."""
        return self.names[self._target]

    @property
    def loading(self) -> str | None:
        return self.names[self._loading[0]] if self._loading else None

    def request(self, step: int) -> str:
        """Ask for the style ``step`` places on from the last one asked for; returns its name."""
        if len(self.names) < 2:
            raise UserError(
                "only one style is installed; add NAME.onnx files to the styles folder "
                "(see 'realtime styles') to switch with n/p"
            )
        return self.request_name(self.names[(self._target + step) % len(self.names)])

    def request_name(self, name: str) -> str:
        """Ask for the style called ``name``; it is swapped in by ``poll`` once loaded."""
        if name not in self.names:
            raise UserError(f"no style {name!r} here; this run switches between "
                            f"{', '.join(self.names)}")  # fmt: skip
        self._target = self.names.index(name)
        self._start_loading()
        return name

    def poll(self) -> tuple[str, Stylize] | None:
        """The newly selected (name, stylizer) once it is loaded, else None.

        A style that fails to load raises UserError; the current style stays in use.
        """
        if self._loading is not None and self._loading[1].done():
            index, future = self._loading
            self._loading = None
            try:
                self._keep(index, future.result())
            except UserError as exc:
                self._target = self.index
                raise UserError(f"style {self.names[index]} not loaded: {exc}") from exc
            self._start_loading()
        if self._target != self.index and self._target in self._loaded:
            self.index = self._target
            self._loaded.move_to_end(self.index)
            return self.current, self._loaded[self.index]
        return None

    @property
    def loaded(self) -> list[str]:
        """The styles held loaded now, least recently used first."""
        return [self.names[index] for index in self._loaded]

    def _keep(self, index: int, stylizer: Stylize) -> None:
        """Hold ``stylizer``, and let go of the least recently used ones beyond the bound
        (never the current or the requested one); a released session frees its memory."""
        self._loaded[index] = stylizer
        self._loaded.move_to_end(index)
        while len(self._loaded) > self._max_loaded:
            spare = [i for i in self._loaded if i not in (self.index, self._target)]
            if not spare:
                break
            del self._loaded[spare[0]]

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _start_loading(self) -> None:
        if self._loading is not None or self._target in self._loaded:
            return
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, "load style")
        name = self.names[self._target]
        self._loading = (self._target, self._executor.submit(self._load, name))
