"""videostyle: artistic style transfer for video, without flicker.

Gatys et al.'s neural style, made temporally consistent as in Ruder, Dosovitskiy
& Brox, "Artistic style transfer for videos" (GCPR 2016).

Image convention used throughout the package (unless a function says otherwise):
numpy ``float32`` arrays of shape ``(H, W, 3)``, RGB, values in ``[0, 1]``;
torch tensors of shape ``(1, 3, H, W)``, RGB, values in ``[0, 1]``.
"""

__version__ = "0.1.0"
