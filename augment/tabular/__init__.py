"""Neural tabular generators: :class:`TabularVAE` (TVAE-like) and :class:`TabularGAN`
(CTGAN-like conditional WGAN-GP with PacGAN).

``neural`` holds what both share (encoding, the conditional input, fitting in the shared
epoch loop, sampling, persistence), ``vae`` and ``gan`` the two models' steps, and
``networks`` their torch modules.
"""

from augment.tabular.gan import TabularGAN
from augment.tabular.vae import TabularVAE

__all__ = ["TabularGAN", "TabularVAE"]
