"""Neural tabular generators: :class:`TabularVAE` (TVAE-like), :class:`TabularGAN`
(CTGAN-like conditional WGAN-GP with PacGAN) and :class:`TabularDiffusion` (TabDDPM-like
Gaussian and multinomial diffusion).

``neural`` holds what they share (encoding, the conditional input, fitting in the shared
epoch loop, sampling, persistence), ``vae``, ``gan`` and ``diffusion`` the models' steps,
``networks`` the VAE's and GAN's torch modules and ``diffusion_net`` the diffusion's
schedule, reverse steps and denoiser.
"""

from augment.tabular.auto import AutoTabular
from augment.tabular.diffusion import TabularDiffusion
from augment.tabular.gan import TabularGAN
from augment.tabular.vae import TabularVAE

__all__ = ["AutoTabular", "TabularDiffusion", "TabularGAN", "TabularVAE"]
