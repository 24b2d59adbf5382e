"""Stylizers: frame in, stylized frame out (see :mod:`artem_vr.style.base`)."""
