"""Image classification for modelzoo (ResNet-50 and smaller torchvision networks).

``plugin`` holds the hook implementations; the other modules are plain PyTorch/numpy
code: ``models`` (torchvision networks), ``imagenet`` (layout check, index, loaders),
``lfw_people`` (LFW identities as classes), ``demo`` (synthetic shapes), ``evaluate``
(top-k accuracy).
"""

__version__ = "0.1.0"
