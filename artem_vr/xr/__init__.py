"""The OpenXR output: instance, GL binding, session lifecycle, swapchains, actions, frame loop.

Entry points: :func:`artem_vr.xr.presenter.run_xr` (with :class:`~artem_vr.xr.presenter.XrOptions`),
:func:`artem_vr.xr.probe.xr_available` (for ``--output auto``), :func:`artem_vr.bench_xr.bench_xr`.
Modules, one role each: ``runtime`` (finding the runtime), ``instance``, ``graphics`` (GLX/EGL/WGL),
``session`` (lifecycle + frame ``with``), ``swapchain``, ``actions`` (bindings as data), ``poses``
(pure maths), ``gltools`` (readback, mirror blit), ``monado`` (the headless test runtime).
The head pose is recorded every frame into the run's :class:`~artem_vr.pose.PoseHistory` (the
passthrough view and the simulated camera read it; docs/passthrough.md).
Nothing here imports pyopenxr at package import time.
"""
