"""The stylizer thread: :class:`StylizerWorker` stylizes the newest source frame (both eyes in
one batch) and publishes the newest :class:`~artem_vr.contracts.StylizedFrame`."""

from __future__ import annotations

import threading
import time

from artem_vr.contracts import StylizedFrame
from artem_vr.control import Controller
from artem_vr.frames import LatestSlot, Uploader, check_size, to_rgb8_batch
from artem_vr.style.methods import make_stylizer
from artem_vr.timing import RateMeter, StageClock


# ---------------------------------------------------------------------------- stylizing
class StylizerWorker:
    """Stylizes the newest source frame on its own thread; publishes the newest result.

    Stages timed into ``clock``: ``capture_wait`` (waiting for a frame newer than the last),
    ``upload`` (host uint8 → device float tensor; pinned + non-blocking on CUDA, on a copy stream
    of its own: :class:`~artem_vr.frames.Uploader`), ``stylize``
    (both eyes in one batch), ``readback`` (device → host uint8; only when the output takes host
    images, i.e. not with CUDA–GL interop: see :attr:`keep_on_device`)."""

    def __init__(self, source, controller: Controller, device: str = "cpu", factory=None,
                 wrap=None, initial_style: str | None = None, clock: StageClock | None = None):
        self.source = source
        self.controller = controller
        self.device = device
        self._factory = factory or make_stylizer
        self._wrap = wrap  # callable(stylizer, state) -> stylizer (temporal / stereo wrappers)
        self._stylizers: dict[str, object] = {}
        self.out: LatestSlot[StylizedFrame] = LatestSlot()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self.frames_done = 0
        self.rate = RateMeter()
        self.clock = clock or StageClock()
        #: True when the output uploads device tensors (CUDA–GL interop): no host copy here
        self.keep_on_device = False
        #: seconds of a delay stage after the stylizer (``--stylize-delay``: a slower stylizer, for
        #: latency experiments); timed as the ``delay`` stage
        self.delay_s = 0.0
        #: where the foveal window is (a FoveaRegion, set by the composition root when foveated)
        self.fovea_region = None
        #: (network pixels, frame pixels) of the last stylized frame
        self.network_pixels: tuple[int, int] | None = None
        self._uploader: Uploader | None = None  # made on the first frame, on the stylizer's device
        st = controller.state
        given = initial_style is not None and initial_style not in st.styles  # a file path
        first = initial_style if given else st.styles[st.index] if st.styles else None
        # built with the style it starts on (validated here, in the caller's thread): the method's
        # default style is never read first (a painting the user did not name, under their limits)
        self._active = self._stylizer(st.method, first)
        if given:
            st.styles = [initial_style] + st.styles
            st.index = 0
        self._active.strength = st.strength

    def _stylizer(self, method: str, style: str | None = None):
        """The method's stylizer, made on first use (on ``style``, else its default) and kept."""
        if method not in self._stylizers:
            base = self._factory(method, style, device=self.device)
            self._stylizers[method] = self._wrap(base, self.controller.state) if self._wrap else base
        return self._stylizers[method]

    @property
    def stylizer(self):
        return self._active

    def start(self):
        self._thread = threading.Thread(target=self._run, name="stylizer", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.out.close()

    def _apply(self, cmds):
        st, c = self.controller.state, self.controller
        for kind, arg in cmds:
            if kind in ("step", "pick"):
                if not st.styles:
                    continue
                i = (st.index + arg) % len(st.styles) if kind == "step" else arg
                if not 0 <= i < len(st.styles):
                    c.say(f"style {i + 1}: there are {len(st.styles)} styles (1–{len(st.styles)})")
                    continue
                st.index = i
                self._active.set_style(st.styles[i])
                self._active.reset_temporal()
                c.say(c.style_line())
            elif kind in ("strength", "strength_delta"):
                v = arg if kind == "strength" else st.strength + arg
                st.strength = float(min(1.0, max(0.0, v)))
                self._active.strength = st.strength
                c.say(f"strength: {st.strength:.2f}")
            elif kind == "toggle":
                setattr(st, arg, not getattr(st, arg))
                if arg == "temporal":
                    self._active.reset_temporal()
                if arg == "fovea_outline" and self.fovea_region is None:
                    c.say("fovea outline: foveation is off in this run (--foveate on)")
                    continue
                c.say(f"{arg.replace('_', ' ')}: {'on' if getattr(st, arg) else 'off'}")
            elif kind == "method":
                if len(st.methods) < 2:
                    c.say(f"method: {st.method} (the only one with models here)")
                    continue
                st.method = st.methods[(st.methods.index(st.method) + arg) % len(st.methods)]
                self._active.drop_graphs()  # idle from now on: its CUDA graphs' memory goes back
                self._active = self._stylizer(st.method)
                current = st.styles[st.index] if st.styles else None
                st.styles = self._active.styles() or st.styles
                st.index = st.styles.index(current) if current in st.styles else 0
                if st.styles:
                    self._active.set_style(st.styles[st.index])
                self._active.strength = st.strength
                self._active.reset_temporal()
                c.say(f"method: {st.method}")
                c.say(c.style_line())

    def stylize_frame(self, frame):
        """Stylize one source Frame (both eyes in one batch) → (host eyes | None, device tensor | None)."""
        st = self.controller.state
        left, right = frame.eyes()
        eyes = [left] if frame.stereo is None else [left, right]
        if not st.stylize:
            self.network_pixels = (0, sum(e.shape[0] * e.shape[1] for e in eyes))
            return eyes, None
        dev = self._active.device
        if self._uploader is None or self._uploader.device != str(dev):
            self._uploader = Uploader(dev)
        x = self._uploader(eyes, self.clock)
        with self.clock.span("stylize", dev):
            y = self._active.stylize(x)
        n, _, h, w = x.shape
        self.network_pixels = (self._active.network_pixels(n, h, w), n * h * w)
        if st.fovea_outline:
            from artem_vr.temporal.foveate import draw_outline, find_foveated  # loaded with the wrappers already

            fov = find_foveated(self._active)
            if fov is not None and fov.last_windows:
                y = draw_outline(y.clone(), fov.last_windows)
        if self.delay_s > 0:
            with self.clock.span("delay", "cpu"):
                time.sleep(self.delay_s)
        if self.keep_on_device and y.is_cuda:
            return None, y
        with self.clock.span("readback", "cpu"):
            return to_rgb8_batch(y), None

    def _run(self):
        if str(self.device).startswith("cuda"):
            import torch

            # its own stream: a consumer (the output's upload) waits for one frame's event, not
            # for every frame the worker has queued after it (the default stream would serialise
            # the GL interop behind all of them)
            with torch.cuda.stream(torch.cuda.Stream(device=self.device)):
                self._loop(cuda=True)
        else:
            self._loop(cuda=False)

    def _loop(self, cuda: bool):
        last = -1
        in_flight = None  # the previous frame's event: at most one frame queued on the GPU
        try:
            while not self._stop.is_set():
                self._apply(self.controller.pending())
                t0 = time.perf_counter()
                frame = self.source.wait_frame(last, timeout=0.1)
                if frame is None:
                    if self.source.ended:
                        if self.source.error is not None:
                            raise self.source.error
                        break
                    continue
                t1 = time.perf_counter()
                self.clock.add("capture_wait", (t1 - t0) * 1e3)
                if last < 0:  # the first frame: a source too small to stylize is one clear error
                    left, _right = frame.eyes()
                    check_size(left.shape[1], left.shape[0], self.source.label)
                last = frame.index
                eyes, tensor = self.stylize_frame(frame)
                ready = None
                if cuda and tensor is not None:
                    import torch

                    ready = torch.cuda.Event()
                    ready.record()
                if in_flight is not None:
                    in_flight.synchronize()  # bound the queue: newest-frame semantics, no latency build-up
                in_flight = ready
                dt = (time.perf_counter() - t1) * 1000
                self.frames_done += 1
                self.rate.tick()
                st = self.controller.state
                self.out.put(StylizedFrame(eyes, self.frames_done, frame.index, frame.t, time.monotonic(),
                                           st.styles[st.index] if st.styles else None, st.method, dt, tensor, ready))
        except BaseException as e:  # handed to the pipeline, re-raised in the main thread
            self.error = e
        finally:
            self.finished.set()
