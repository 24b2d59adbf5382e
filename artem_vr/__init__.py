"""Art'Em VR: real-time artistic style transfer in a VR headset."""

__version__ = "0.1.0"
